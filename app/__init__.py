"""The MONAI Deploy application (folder mode) and its command line."""
