"""The message path (收件): delivery, the writer, the batch, the store and the outage spool."""
