-- Subnet routes and exit nodes: what a machine advertises and what admins
-- decided of it, as one JSON object (wire.MachineRoutes); NULL: it
-- advertises nothing. Versioned with the machine, so a change reaches
-- every map as a delta.
ALTER TABLE machines ADD COLUMN routes TEXT;
