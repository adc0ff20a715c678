"""The CrossGuard policy pack (`pulumi preview --policy-pack policy/`) and its pure rules."""
