"""Vendor naming profiles: how Siemens, GE, Philips and Canon scanners label a brain MR study.

Everything here is data. The study writer picks a scanner model for the
subject's field strength and one site naming style (the same index into every
description list, so pre- and post-contrast names match the way one site's
protocol tree does), and never branches on the vendor's name.

String fields may hold `{etl}` (echo train length), `{b}` (b-value), `{trace}`
(NONE for b = 0, TRACEW otherwise), `{t}` (empty for b = 0, "t" otherwise) and,
for derived series, `{dwi}` (the diffusion series' description).
Values follow what scanners write into the DICOM MR Image module (PS3.3
C.8.3.1): ScanningSequence, SequenceVariant, ScanOptions and ImageType are
multi-valued CS, SequenceName is SH (16 characters at most).
"""

from __future__ import annotations

from dataclasses import dataclass

ROLES: tuple[str, ...] = (
    "localizer",
    "t1_3d",
    "t1_2d",
    "t1ce_3d",
    "t1ce_2d",
    "t2_2d",
    "flair_2d",
    "flair_3d",
    "dwi",
    "adc",
)
"""Series roles a profile names: a contrast and its acquisition dimension, plus the extra series."""


@dataclass(frozen=True)
class ScannerModel:
    """One scanner model: ManufacturerModelName, nominal and true field (Larmor frequency), software."""

    name: str
    field_strength_t: float
    software_versions: tuple[str, ...]
    true_field_t: float | None = None
    manufacturer: str | None = None

    @property
    def imaging_frequency_mhz(self) -> float:
        """Proton Larmor frequency, 42.577478 MHz/T times the magnet's true field."""
        return 42.577478 * (self.true_field_t or self.field_strength_t)


@dataclass(frozen=True)
class SeriesNaming:
    """How a vendor names and describes one series role."""

    descriptions: tuple[str, ...]
    sequence_name: str
    scanning_sequence: tuple[str, ...]
    sequence_variant: tuple[str, ...]
    scan_options: tuple[str, ...]
    image_type: tuple[str, ...]


@dataclass(frozen=True)
class VendorProfile:
    """A vendor's models, series names and numbering and the habits of its image headers.

    Series numbers: acquired series are `first + step * k`; the ADC map gets
    `dwi * adc_multiplier + adc_offset` and, when `adc_takes_slot`, the next
    acquired series skips its number (Siemens numbers derived series inline).
    """

    key: str
    manufacturer: str
    models: tuple[ScannerModel, ...]
    series: dict[str, SeriesNaming]
    study_descriptions: tuple[str, ...]
    study_descriptions_no_contrast: tuple[str, ...]
    body_part: str
    receive_coils: tuple[str, ...]
    bits_stored: int
    gain_range: tuple[float, float]
    series_number_first: int = 1
    series_number_step: int = 1
    adc_multiplier: int = 1
    adc_offset: int = 1
    adc_takes_slot: bool = True
    axial_ascending: bool = True
    sagittal_right_to_left: bool = True
    axial_phase_direction: str = "ROW"
    matrix_2d: tuple[int, ...] = (320, 384, 512)
    matrix_dwi: tuple[int, ...] = (128, 192)
    matrix_3d: tuple[tuple[int, int], ...] = ((256, 256),)
    slices_3d: tuple[int, ...] = (176, 192)

    def models_at(self, field_strength_t: float) -> tuple[ScannerModel, ...]:
        """The profile's scanner models of one nominal field strength."""
        chosen = tuple(m for m in self.models if m.field_strength_t == field_strength_t)
        if not chosen:
            raise ValueError(f"vendor {self.key!r} has no {field_strength_t} T model; it has {self.models}")
        return chosen

    def naming(self, role: str) -> SeriesNaming:
        """The naming of one series role (see ROLES)."""
        if role not in self.series:
            raise KeyError(f"vendor {self.key!r} does not name series role {role!r}; expected one of {ROLES}")
        return self.series[role]


def _n(descriptions: tuple[str, ...], header: str) -> SeriesNaming:
    """A SeriesNaming from its descriptions and one table row of header values.

    The row holds, separated by spaces, SequenceName, ScanningSequence,
    SequenceVariant, ScanOptions and ImageType, multi-valued ones written with
    backslashes as in DICOM and "-" for an empty value.
    """
    sequence_name, scanning, variant, options, image_type = header.split()

    def split(text: str) -> tuple[str, ...]:
        return () if text == "-" else tuple(text.split("\\"))

    return SeriesNaming(descriptions, sequence_name, split(scanning), split(variant), split(options), split(image_type))


SIEMENS = VendorProfile(
    key="siemens",
    manufacturer="SIEMENS",
    models=(
        ScannerModel("Prisma", 3.0, ("syngo MR E11",), true_field_t=2.8936),
        ScannerModel("Skyra", 3.0, ("syngo MR E11",), true_field_t=2.8936),
        ScannerModel("MAGNETOM Vida", 3.0, ("syngo MR XA31",), 2.8936, "Siemens Healthineers"),
        ScannerModel("Aera", 1.5, ("syngo MR E11",), true_field_t=1.4940),
        ScannerModel("Avanto_fit", 1.5, ("syngo MR E11",), true_field_t=1.4940),
        ScannerModel("MAGNETOM Sola", 1.5, ("syngo MR XA31",), 1.4940, "Siemens Healthineers"),
    ),
    series={
        "localizer": _n(
            ("localizer", "localizer_3plane", "AAHead_Scout_localizer"),
            "*fl2d1 GR SP - ORIGINAL\\PRIMARY\\LOCALIZER\\NORM",
        ),
        "t1_3d": _n(
            ("t1_mprage_sag_p2_iso", "t1_mprage_sag_1mm", "MPRAGE pre GAD"),
            "*tfl3d1_16ns GR\\IR SK\\SP\\MP IR ORIGINAL\\PRIMARY\\M\\ND\\NORM",
        ),
        "t1ce_3d": _n(
            ("t1_mprage_sag_p2_iso_POST", "t1_mprage_sag_1mm_POST", "MPRAGE post GAD"),
            "*tfl3d1_16ns GR\\IR SK\\SP\\MP IR ORIGINAL\\PRIMARY\\M\\ND\\NORM",
        ),
        "t1_2d": _n(("t1_se_tra", "t1_se_tra_5mm", "T1 SE AX"), "*se2d1 SE SP - ORIGINAL\\PRIMARY\\M\\ND\\NORM"),
        "t1ce_2d": _n(
            ("t1_se_tra_POST", "t1_se_tra_5mm_POST", "T1 SE AX post GAD"),
            "*se2d1 SE SP - ORIGINAL\\PRIMARY\\M\\ND\\NORM",
        ),
        "t2_2d": _n(
            ("t2_tse_tra", "t2_tse_tra_512", "T2 TSE AX"),
            "*tse2d1_{etl} SE SK\\SP\\OSP PFP ORIGINAL\\PRIMARY\\M\\ND\\NORM",
        ),
        "flair_2d": _n(
            ("t2_tirm_tra_dark-fluid", "t2_tirm_tra_dark-fluid_320", "FLAIR AX"),
            "*tir2d1_{etl} SE\\IR SK\\SP\\MP\\OSP IR ORIGINAL\\PRIMARY\\M\\ND\\NORM",
        ),
        "flair_3d": _n(
            ("t2_space_dark-fluid_sag_p2_iso", "t2_space_dark-fluid_sag_1mm", "3D FLAIR SAG"),
            "*spcir_{etl}ns SE\\IR SK\\SP\\MP IR\\PFP ORIGINAL\\PRIMARY\\M\\ND\\NORM",
        ),
        "dwi": _n(
            ("ep2d_diff_3scan_trace_p2", "ep2d_diff_tra_b1000", "DWI AX b1000"),
            "*ep_b{b}{t} EP SK\\SP PFP\\FS ORIGINAL\\PRIMARY\\DIFFUSION\\{trace}\\ND\\NORM",
        ),
        "adc": _n(("{dwi}_ADC",), "*ep_b0_1000 EP SK\\SP PFP\\FS DERIVED\\PRIMARY\\DIFFUSION\\ADC\\ND\\NORM"),
    },
    study_descriptions=("Neuro^Brain_Routine_Contrast", "Head^Routine w/wo", "MR BRAIN WITH AND WITHOUT CONTRAST"),
    study_descriptions_no_contrast=("Neuro^Brain_Routine", "Head^Routine", "MR BRAIN WITHOUT CONTRAST"),
    body_part="HEAD",
    receive_coils=("Head_32", "HeadNeck_20", "HeadNeck_64"),
    bits_stored=12,
    gain_range=(1000.0, 2500.0),
    matrix_2d=(320, 384, 512),
    matrix_dwi=(128, 192),
)

GE = VendorProfile(
    key="ge",
    manufacturer="GE MEDICAL SYSTEMS",
    models=(
        ScannerModel("SIGNA Premier", 3.0, ("29", "LX", "MR29.1_EA_2039.a")),
        ScannerModel("DISCOVERY MR750", 3.0, ("27", "LX", "MR Software release:DV26.0_R03_1831.b")),
        ScannerModel("SIGNA Architect", 3.0, ("28", "LX", "MR28.0_R04_2052.a")),
        ScannerModel("SIGNA Artist", 1.5, ("28", "LX", "MR28.0_R04_2052.a")),
        ScannerModel("Optima MR450w", 1.5, ("24", "LX", "MR Software release:DV24.0_R01_1344.a")),
        ScannerModel("SIGNA Explorer", 1.5, ("26", "LX", "MR Software release:DV26.0_R02_1810.b")),
    ),
    series={
        "localizer": _n(
            ("3Plane Loc", "3-Plane Localizer", "LOC"), "fgre GR SS FAST_GEMS ORIGINAL\\PRIMARY\\LOCALIZER"
        ),
        "t1_3d": _n(
            ("Sag 3D BRAVO", "SAG T1 BRAVO", "3D T1 BRAVO"),
            "efgre3d GR\\IR SS\\SK FAST_GEMS\\EDR_GEMS\\IR_GEMS\\ACC_GEMS ORIGINAL\\PRIMARY\\OTHER",
        ),
        "t1ce_3d": _n(
            ("+C Sag 3D BRAVO", "+C SAG T1 BRAVO", "3D T1 BRAVO +C"),
            "efgre3d GR\\IR SS\\SK FAST_GEMS\\EDR_GEMS\\IR_GEMS\\ACC_GEMS ORIGINAL\\PRIMARY\\OTHER",
        ),
        "t1_2d": _n(("Ax T1 SE", "AX T1 SE", "Ax T1"), "memp SE NONE FILTERED_GEMS ORIGINAL\\PRIMARY\\OTHER"),
        "t1ce_2d": _n(
            ("+C Ax T1 SE", "+C AX T1 SE", "Ax T1 +C"), "memp SE NONE FILTERED_GEMS ORIGINAL\\PRIMARY\\OTHER"
        ),
        "t2_2d": _n(
            ("Ax T2 FRFSE", "AX T2 FSE", "Ax T2"),
            "frfse-xl SE SK\\OSP FAST_GEMS\\EDR_GEMS\\TRF_GEMS\\FILTERED_GEMS ORIGINAL\\PRIMARY\\OTHER",
        ),
        "flair_2d": _n(
            ("Ax T2 FLAIR", "AX T2 FLAIR", "Ax FLAIR"),
            "fse-xl SE\\IR SK\\OSP FAST_GEMS\\EDR_GEMS\\IR_GEMS\\FILTERED_GEMS ORIGINAL\\PRIMARY\\OTHER",
        ),
        "flair_3d": _n(
            ("Sag CUBE FLAIR", "3D FLAIR CUBE", "Sag T2 FLAIR CUBE"),
            "cube SE\\IR SK\\SS FAST_GEMS\\EDR_GEMS\\IR_GEMS\\ACC_GEMS ORIGINAL\\PRIMARY\\OTHER",
        ),
        "dwi": _n(
            ("Ax DWI", "AX DWI 1000b", "Ax DWI ASSET"),
            "epi2 EP\\SE SK\\SS EPI_GEMS\\ACC_GEMS\\FS ORIGINAL\\PRIMARY\\DIFFUSION",
        ),
        "adc": _n(("ADC (10^-6 mm2/s):{dwi}",), "epi2 EP\\SE SK\\SS EPI_GEMS\\ACC_GEMS\\FS DERIVED\\PRIMARY\\ADC"),
    },
    study_descriptions=("MR BRAIN WITH AND WITHOUT CONTRAST", "BRAIN W/WO", "MRI BRAIN W WO CONTRAST"),
    study_descriptions_no_contrast=("MR BRAIN WITHOUT CONTRAST", "BRAIN WO", "MRI BRAIN WO CONTRAST"),
    body_part="HEAD",
    receive_coils=("8HRBRAIN", "HNS Head", "48HAP"),
    bits_stored=16,
    gain_range=(1500.0, 4000.0),
    adc_multiplier=100,
    adc_offset=0,
    adc_takes_slot=False,
    axial_ascending=False,
    sagittal_right_to_left=False,
    axial_phase_direction="COL",
    matrix_2d=(384, 512),
    matrix_dwi=(128, 256),
    matrix_3d=((256, 256),),
    slices_3d=(172, 180),
)

PHILIPS = VendorProfile(
    key="philips",
    manufacturer="Philips Medical Systems",
    models=(
        ScannerModel("Ingenia", 3.0, ("5.4.1", "5.4.1.1")),
        ScannerModel("Achieva dStream", 3.0, ("5.1.7", "5.1.7.2")),
        ScannerModel("Ingenia Elition X", 3.0, ("5.7.1", "5.7.1.2"), manufacturer="Philips"),
        ScannerModel("Ingenia", 1.5, ("5.4.1", "5.4.1.1")),
        ScannerModel("Achieva", 1.5, ("3.2.3", "3.2.3.1")),
        ScannerModel("Ingenia Ambition X", 1.5, ("5.6.1", "5.6.1.2"), manufacturer="Philips"),
    ),
    series={
        "localizer": _n(("Survey", "SmartSurvey", "SURVEY_MST"), "FFE GR SP - ORIGINAL\\PRIMARY\\LOCALIZER\\M\\FFE"),
        "t1_3d": _n(
            ("T1W_3D_TFE", "sT1W_3D_TFE", "3D_T1W_TFE_SENSE"), "TFE GR SS\\SP\\MP - ORIGINAL\\PRIMARY\\M_FFE\\M\\FFE"
        ),
        "t1ce_3d": _n(
            ("T1W_3D_TFE +C", "sT1W_3D_TFE +C", "3D_T1W_TFE_SENSE_GD"),
            "TFE GR SS\\SP\\MP - ORIGINAL\\PRIMARY\\M_FFE\\M\\FFE",
        ),
        "t1_2d": _n(("T1W_SE", "T1W_SE_TRA", "T1_SE_AX"), "SE SE SP - ORIGINAL\\PRIMARY\\M_SE\\M\\SE"),
        "t1ce_2d": _n(("T1W_SE +C", "T1W_SE_TRA +C", "T1_SE_AX_GD"), "SE SE SP - ORIGINAL\\PRIMARY\\M_SE\\M\\SE"),
        "t2_2d": _n(("T2W_TSE", "T2W_TSE_TRA", "T2_TSE_AX"), "TSE SE SK PFP ORIGINAL\\PRIMARY\\M_SE\\M\\SE"),
        "flair_2d": _n(
            ("FLAIR_longTR", "T2W_FLAIR", "FLAIR_AX"), "IRTSE SE\\IR SK\\MP - ORIGINAL\\PRIMARY\\M_IR\\M\\IR"
        ),
        "flair_3d": _n(
            ("3D_Brain_VIEW_FLAIR", "3D_FLAIR_SPIR", "VISTA_FLAIR"),
            "IRTSE3D SE\\IR SK\\MP - ORIGINAL\\PRIMARY\\M_IR\\M\\IR",
        ),
        "dwi": _n(("DWI_SENSE", "DWI", "DWI_TRA"), "DwiSE SE\\EP SK FS ORIGINAL\\PRIMARY\\DIFFUSION\\M\\SE"),
        "adc": _n(("{dwi}_ADC", "dADC", "ADC_{dwi}"), "DwiSE SE\\EP SK FS DERIVED\\PRIMARY\\ADC"),
    },
    study_descriptions=("MR Brain^with contrast", "Brain^Routine_Gd", "MR BRAIN WITH AND WITHOUT CONTRAST"),
    study_descriptions_no_contrast=("MR Brain", "Brain^Routine", "MR BRAIN WITHOUT CONTRAST"),
    body_part="BRAIN",
    receive_coils=("SENSE-Head-8", "dS HeadNeckSpine", "dS Head 32ch"),
    bits_stored=12,
    gain_range=(1000.0, 4000.0),
    series_number_first=101,
    series_number_step=100,
    adc_takes_slot=False,
    matrix_2d=(448, 512),
    matrix_dwi=(224, 256),
    matrix_3d=((256, 256), (240, 240)),
    slices_3d=(170, 180),
)

CANON = VendorProfile(
    key="canon",
    manufacturer="CANON_MEC",
    models=(
        ScannerModel("Vantage Galan 3T", 3.0, ("V6.0*R006",)),
        ScannerModel("Vantage Orian", 1.5, ("V6.0*R006",)),
    ),
    series={
        "localizer": _n(("Locator", "3-plane Locator"), "FE2D GR SP - ORIGINAL\\PRIMARY\\LOCALIZER"),
        "t1_3d": _n(("3D T1 MPRAGE SAG", "T1 3D SAG"), "FE3D_MPRAGE GR\\IR SK\\SP\\MP IR ORIGINAL\\PRIMARY\\OTHER"),
        "t1ce_3d": _n(
            ("3D T1 MPRAGE SAG +C", "T1 3D SAG +C"), "FE3D_MPRAGE GR\\IR SK\\SP\\MP IR ORIGINAL\\PRIMARY\\OTHER"
        ),
        "t1_2d": _n(("T1 SE AX", "AX T1"), "SE2D SE SP - ORIGINAL\\PRIMARY\\OTHER"),
        "t1ce_2d": _n(("T1 SE AX +C", "AX T1 +C"), "SE2D SE SP - ORIGINAL\\PRIMARY\\OTHER"),
        "t2_2d": _n(("T2 FSE AX", "AX T2"), "FSE2D SE SK\\SP PFP ORIGINAL\\PRIMARY\\OTHER"),
        "flair_2d": _n(("FLAIR AX", "AX FLAIR"), "FLAIR2D SE\\IR SK\\SP\\MP IR ORIGINAL\\PRIMARY\\OTHER"),
        "flair_3d": _n(("3D FLAIR SAG", "FLAIR 3D"), "FLAIR3D SE\\IR SK\\SP\\MP IR ORIGINAL\\PRIMARY\\OTHER"),
        "dwi": _n(("DWI AX", "AX DWI b1000"), "SE_EPI EP\\SE SK\\SP FS ORIGINAL\\PRIMARY\\DIFFUSION"),
        "adc": _n(("{dwi} ADC",), "SE_EPI EP\\SE SK\\SP FS DERIVED\\PRIMARY\\ADC"),
    },
    study_descriptions=("MR BRAIN WITH AND WITHOUT CONTRAST", "Brain w/wo contrast"),
    study_descriptions_no_contrast=("MR BRAIN WITHOUT CONTRAST", "Brain routine"),
    body_part="HEAD",
    receive_coils=("Head SPEEDER", "Head/Neck 16"),
    bits_stored=12,
    gain_range=(1000.0, 4000.0),
    axial_phase_direction="COL",
    matrix_2d=(320, 448, 512),
    matrix_dwi=(160, 192),
)

PROFILES: dict[str, VendorProfile] = {p.key: p for p in (SIEMENS, GE, PHILIPS, CANON)}
"""Vendor profiles by the key the CLI takes (`--vendor siemens|ge|philips`; canon from Python)."""


def vendor_profile(key: str) -> VendorProfile:
    """The profile of a vendor key, case-insensitive."""
    try:
        return PROFILES[key.lower()]
    except KeyError:
        raise ValueError(f"vendor {key!r} unknown; expected one of {sorted(PROFILES)}") from None
