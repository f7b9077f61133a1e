-- A suggestion's raw vote share beside its calibrated confidence: when the calibration is refitted,
-- the confidences of suggestions nobody re-scored are mapped again from it, with no search query.
ALTER TABLE labels ADD COLUMN share real CHECK (share IS NULL OR (share >= 0 AND share <= 1));
