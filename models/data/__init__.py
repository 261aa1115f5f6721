"""Data for MSG-LDM: the layouts users hold, the preprocessing shared with the application, slice datasets."""
