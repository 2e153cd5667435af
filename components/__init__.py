"""Pure UI functions: values and event handlers in, components out; no State inside."""
