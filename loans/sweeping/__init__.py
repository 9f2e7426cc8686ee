"""The daily sweep's steps, one module each (loans/sweep.py runs them per chunk): payments,
days past due and buckets, lifecycle moves, class floors; results.py holds what they share."""
