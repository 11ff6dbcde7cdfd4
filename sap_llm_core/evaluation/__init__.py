"""Held-out evaluation of each model and of the whole 8-stage document pipeline: metrics, Markdown
reports and plots, written by plain functions the ``evaluation`` assets call."""
