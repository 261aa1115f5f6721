"""Stage 5, writing: the synthetic DICOM series (SC or MR, labelled), the report and the preview."""
