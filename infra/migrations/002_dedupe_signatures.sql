-- Dedupe's per-item signature (flag byte + one-permutation MinHash, transforms/dedupe.py),
-- so loading the cross-batch index does not recompute MinHash for 30 days of items.
-- Written by the sink from Item.dedupe_signature (excluded from the JSON record).
ALTER TABLE items ADD COLUMN dedupe_signature BLOB;
