"""Stack layer: the only code that reads Pulumi config. It validates settings, composes the tiers
and exports the stack outputs."""
