"""Everything the suite writes: outcomes, summaries, allure metadata, and the redactor."""
