"""Portfolio and operations reports: figures over the loan book, its tasks and cases, as of any
past date, from the journal and the bucket history (the API renders them as pages and downloads)."""
