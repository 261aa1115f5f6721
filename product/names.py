"""Names this product writes into its own DICOM output, so that the node can recognise (and never re-ingest) it."""

PRODUCT_NAME = "mri-synth-node"
"""Name of the product (also the Python project name)."""

MANUFACTURER = PRODUCT_NAME
"""Manufacturer (0008,0070) of every series the node writes."""

MODEL_NAME = "MSG-LDM"
"""Manufacturer's Model Name (0008,1090): the synthesis model."""

SERIES_DESCRIPTION_PREFIX = "SYNTHETIC"
"""First word of the Series Description (0008,103E) of every synthetic series."""
