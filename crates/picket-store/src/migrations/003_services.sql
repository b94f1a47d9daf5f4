-- Service detection (`picket scan --service-detect`): what listens on an observed port, as the
-- JSON of picket_model::ServiceInfo; NULL when detection did not run or found nothing.
ALTER TABLE observations ADD COLUMN service TEXT;
