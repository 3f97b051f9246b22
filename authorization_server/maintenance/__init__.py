"""Background upkeep: idle clients deleted (RFC 7591 §5), abandoned journeys expired, ended ones deleted."""
