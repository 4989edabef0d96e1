"""Grading: (question, answer) -> a verdict per key point, with the member's own words as evidence.

`service.GradingService` is the seam the core calls; `local.LocalGrader` is the
offline default every install gets; `llm.LlmGrader` is the optional grader for
an OpenAI-compatible endpoint, trusted only as far as its quotes check out.
"""
