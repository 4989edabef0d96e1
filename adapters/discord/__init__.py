"""Discord adapter: discord.py client + app_commands over the platform-neutral core.

`inbound.py` turns gateway payloads into domain events, `render.py` and
`outbound.py` turn Messages into embeds/views and implement the ChatPort,
`commands.py` declares the `/mlsd` group and `client.py` wires them together.
"""
