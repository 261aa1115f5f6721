"""Stage 1, selection: read every file, summarise each series from its headers, keep the brain MR image volumes."""
