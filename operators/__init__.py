"""MONAI Deploy operators of the node and the plain logic they wrap (series selection, contrast identification)."""
