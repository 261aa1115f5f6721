"""The plan of one MR brain session: which series, in which order, with which geometry, timing and numbers.

Drawing the plan is separate from rendering pixels and writing files: every
random choice a technologist and a scanner make (scanner model, naming style,
field of view, matrix, gap, obliquity, timing) is drawn here from one
generator, and the rest of the writer is deterministic given the plan.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from simulation.dicom_geometry import SliceStack, make_stack, rotation
from simulation.protocols import SequenceProtocol
from simulation.subject import SubjectParameters
from simulation.vendors import ScannerModel, SeriesNaming, VendorProfile

SESSION_ORDER: tuple[str, ...] = ("localizer", "t1", "t2", "flair", "dwi", "t1ce")
"""Clinical order of a brain MR with and without contrast; the ADC map follows its DWI, T1ce follows injection."""

ROLE_TIMING: dict[str, dict[str, tuple[float, float]]] = {
    # seconds of scanning, receiver bandwidth (Hz/pixel), SAR (W/kg)
    "localizer": {"duration": (15, 30), "bandwidth": (300, 400), "sar": (0.01, 0.05)},
    "t1_3d": {"duration": (260, 330), "bandwidth": (190, 250), "sar": (0.05, 0.2)},
    "t1_2d": {"duration": (120, 200), "bandwidth": (130, 200), "sar": (0.8, 2.0)},
    "t2_2d": {"duration": (100, 180), "bandwidth": (190, 250), "sar": (1.0, 2.5)},
    "flair_2d": {"duration": (150, 240), "bandwidth": (250, 290), "sar": (0.5, 1.5)},
    "flair_3d": {"duration": (270, 360), "bandwidth": (650, 780), "sar": (0.3, 1.0)},
    "dwi": {"duration": (60, 120), "bandwidth": (1300, 2000), "sar": (0.3, 0.8)},
}
ROLE_TIMING["t1ce_3d"] = ROLE_TIMING["t1_3d"]
ROLE_TIMING["t1ce_2d"] = ROLE_TIMING["t1_2d"]
ROLE_TIMING["adc"] = ROLE_TIMING["dwi"]

AVERAGES: dict[str, tuple[float, ...]] = {"t1_2d": (1.0, 2.0), "t2_2d": (1.0, 2.0), "dwi": (1.0, 2.0, 3.0)}
B_VALUES: tuple[int, ...] = (0, 1000)
EXTRA_SNR: dict[str, tuple[float, float]] = {"localizer": (10.0, 15.0), "dwi": (18.0, 30.0)}
"""SNR of the series the subject's protocols do not cover (b = 0 image for DWI)."""


@dataclass(frozen=True)
class Acquisition:
    """MR Image module values of one series (PS3.3 C.8.3.1); times in ms."""

    tr_ms: float
    te_ms: float
    ti_ms: float | None
    flip_angle_deg: float
    echo_train_length: int
    averages: float
    pixel_bandwidth: float
    acquisition_matrix: tuple[int, int, int, int]
    phase_direction: str
    phase_steps: int
    percent_sampling: float
    sar: float
    is_3d: bool
    variable_flip_angle: bool = False


@dataclass(frozen=True)
class SeriesPlan:
    """One series as planned: role, names, numbers, geometry, acquisition values and timing (seconds of day)."""

    role: str
    contrast: str | None
    number: int
    description: str
    naming: SeriesNaming
    stacks: tuple[SliceStack, ...]
    acquisition: Acquisition
    start_s: float
    duration_s: float
    snr: float
    gain: float
    b_values: tuple[int, ...] = (0,)
    post_contrast: bool = False
    protocol_name: str | None = None

    @property
    def protocol(self) -> str:
        """ProtocolName: the series description, except derived series that keep their source's protocol."""
        return self.protocol_name or self.description


@dataclass(frozen=True)
class StudyPlan:
    """Scanner, naming style, session timing and the series of one study."""

    profile: VendorProfile
    model: ScannerModel
    style: int
    study_description: str
    receive_coil: str
    study_start_s: float
    injection_s: float | None
    series: tuple[SeriesPlan, ...]

    @property
    def manufacturer(self) -> str:
        """Manufacturer as the model writes it (Siemens XA and newer Philips models changed theirs)."""
        return self.model.manufacturer or self.profile.manufacturer


def series_role(contrast: str, protocol: SequenceProtocol) -> str:
    """The profile role of a contrast series, e.g. "t1_3d" for an MPRAGE T1."""
    return f"{contrast}_{'3d' if protocol.is_3d else '2d'}"


def _pick(rng: np.random.Generator, options: tuple) -> object:
    return options[int(rng.integers(len(options)))]


def _acquisition(
    rng: np.random.Generator,
    role: str,
    naming: SeriesNaming,
    protocol: SequenceProtocol | None,
    stack: SliceStack,
    profile: VendorProfile,
) -> Acquisition:
    """Timing, matrix and RF values of a series; contrast series take TR/TE/TI/flip/ETL from the site protocol.

    Phase encoding runs anterior-posterior on sagittal slabs (ROW) and EPI (COL);
    2D axial series follow the vendor's habit.
    """
    timing = ROLE_TIMING[role]
    phase_direction = "ROW" if role.endswith("_3d") or role == "localizer" else profile.axial_phase_direction
    phase_direction = "COL" if role == "dwi" else phase_direction
    if protocol is not None:
        tr, te, ti = protocol.tr_ms, protocol.te_ms, protocol.ti_ms
        flip, etl = protocol.flip_angle_deg, protocol.echo_train_length
    elif role == "localizer":
        tr, te, ti, flip, etl = 8.6, 4.0, None, 20.0, 1
    else:  # diffusion EPI: the echo train reads the (accelerated) phase lines
        tr, te, ti, flip, etl = float(rng.uniform(4000, 7000)), float(rng.uniform(70, 95)), None, 90.0, 0
    # Scanners reconstruct fine matrices from a coarser acquisition (interpolation, partial Fourier).
    frequency = stack.rows if stack.rows <= 320 else int(stack.rows * 0.75) // 16 * 16
    phase = int(round(frequency * rng.uniform(0.75, 1.0) / 2.0)) * 2
    matrix = (frequency, 0, 0, phase) if phase_direction == "ROW" else (0, frequency, phase, 0)
    return Acquisition(
        tr_ms=float(tr),
        te_ms=float(te),
        ti_ms=float(ti) if ti is not None and "IR" in naming.scanning_sequence else None,
        flip_angle_deg=float(flip),
        echo_train_length=int(etl) if role != "dwi" else phase // 2,
        averages=float(_pick(rng, AVERAGES.get(role, (1.0,)))),
        pixel_bandwidth=float(round(rng.uniform(*timing["bandwidth"]))),
        acquisition_matrix=matrix,
        phase_direction=phase_direction,
        phase_steps=phase,
        percent_sampling=round(100.0 * phase / frequency, 4),
        sar=float(round(rng.uniform(*timing["sar"]), 5)),
        is_3d=role.endswith("_3d"),
        variable_flip_angle=role == "flair_3d",
    )


class _Geometry:
    """Where the technologist puts each block of slices: around the brain, axial block slightly oblique."""

    def __init__(self, rng: np.random.Generator, profile: VendorProfile, brain_box_lps: np.ndarray) -> None:
        self.rng, self.profile = rng, profile
        self.box = np.asarray(brain_box_lps, dtype=np.float64)
        self.centre = self.box.mean(axis=0) + rng.uniform(-3, 3, 3)
        oblique = rng.random() < 0.6
        self.tilt = rotation(float(rng.uniform(-6, 6)), float(rng.uniform(-3, 3))) if oblique else None

    def _corners(self) -> np.ndarray:
        lo, hi = self.box
        return np.array([[x, y, z] for x in (lo[0], hi[0]) for y in (lo[1], hi[1]) for z in (lo[2], hi[2])])

    def axial(self, thickness_mm: float, matrix: int, margin_mm: float = 6.0) -> SliceStack:
        """A gapped axial block covering the brain, centred like the scanner's graphical slice positioning."""
        normal = (self.tilt if self.tilt is not None else np.eye(3)) @ np.array([0.0, 0.0, 1.0])
        along = self._corners() @ normal
        spacing = round(thickness_mm * float(self.rng.uniform(1.1, 1.3)), 1)
        slices = math.ceil((along.max() - along.min() + 2 * margin_mm) / spacing)
        centre = self.centre + (0.5 * (along.max() + along.min()) - self.centre @ normal) * normal
        fov = float(self.rng.choice([220.0, 230.0, 240.0]))
        return make_stack(
            "axial",
            centre,
            (fov, fov),
            (matrix, matrix),
            slices,
            thickness_mm,
            spacing,
            tilt=self.tilt,
            reverse=not self.profile.axial_ascending,
        )

    def sagittal_3d(self, thickness_mm: float) -> SliceStack:
        """An isotropic sagittal slab, pixel = slice thickness, as MPRAGE/BRAVO/TFE and SPACE/CUBE/VISTA."""
        rows, columns = _pick(self.rng, self.profile.matrix_3d)
        slices = int(_pick(self.rng, self.profile.slices_3d))
        fov = (rows * thickness_mm, columns * thickness_mm)
        reverse = self.profile.sagittal_right_to_left
        return make_stack(
            "sagittal", self.centre, fov, (rows, columns), slices, thickness_mm, thickness_mm, None, reverse
        )

    def for_role(self, role: str, protocol: SequenceProtocol | None) -> tuple[SliceStack, ...]:
        """The slice stacks of a series role: localizer planes, a sagittal 3D slab, or a gapped axial block."""
        if role == "localizer":
            return self.localizer()
        if protocol is not None and protocol.is_3d:
            return (self.sagittal_3d(protocol.slice_thickness_mm),)
        thickness = protocol.slice_thickness_mm if protocol is not None else float(self.rng.choice([4.0, 5.0]))
        matrix = _pick(self.rng, self.profile.matrix_dwi if role == "dwi" else self.profile.matrix_2d)
        return (self.axial(thickness, int(matrix)),)

    def localizer(self) -> tuple[SliceStack, ...]:
        """Three thick low-resolution slices in each of the sagittal, coronal and axial planes."""
        fov = float(self.rng.choice([250.0, 260.0, 280.0]))
        thickness = float(self.rng.choice([7.0, 8.0, 10.0]))
        spacing = float(self.rng.uniform(12, 20))
        return tuple(
            make_stack(plane, self.centre, (fov, fov), (256, 256), 3, thickness, spacing)
            for plane in ("sagittal", "coronal", "axial")
        )


def plan_study(
    rng: np.random.Generator,
    profile: VendorProfile,
    params: SubjectParameters,
    contrasts: list[str],
    brain_box_lps: np.ndarray,
    extra_series: bool = True,
) -> StudyPlan:
    """Draw the session: scanner model, naming style, series in clinical order with geometry and times.

    Args:
        rng: the study's generator (not the subject's).
        profile: vendor naming profile.
        params: the simulated subject's parameters (field strength, protocols, SNR).
        contrasts: requested contrast series, any of t1, t1ce, t2, flair.
        brain_box_lps: (2, 3) lowest and highest LPS corner of the brain, in mm.
        extra_series: add the localizer, DWI and ADC series real studies carry.
    """
    model = _pick(rng, profile.models_at(params.field_strength_t))
    style = int(rng.integers(1_000_000))
    geometry = _Geometry(rng, profile, brain_box_lps)
    with_contrast = "t1ce" in contrasts
    descriptions = profile.study_descriptions if with_contrast else profile.study_descriptions_no_contrast
    clock = float(rng.uniform(7.5, 17.0)) * 3600.0
    study_start = clock
    clock += float(rng.uniform(60, 180))
    plans: list[SeriesPlan] = []
    stacks: dict[str, SliceStack] = {}
    number, injection = profile.series_number_first, None
    wanted = [s for s in SESSION_ORDER if s in contrasts or (extra_series and s in ("localizer", "dwi"))]
    for step in wanted:
        protocol = params.protocols.get(step)
        role = series_role(step, protocol) if protocol is not None else step
        naming = profile.naming(role)
        description = naming.descriptions[style % len(naming.descriptions)]
        if step == "t1ce":
            injection = clock + float(rng.uniform(10, 40))
            clock = injection + float(rng.uniform(60, 240))
        # The technologist copies the pre-contrast T1's slices for the post-contrast T1.
        block = role.replace("t1ce", "t1")
        if block not in stacks:
            stacks[block] = geometry.for_role(role, protocol)
        acquisition = _acquisition(rng, role, naming, protocol, stacks[block][0], profile)
        duration = float(rng.uniform(*ROLE_TIMING[role]["duration"]))
        snr = params.snr[step] if protocol is not None else float(rng.uniform(*EXTRA_SNR[role]))
        plan = SeriesPlan(
            role=role,
            contrast=step if protocol is not None else None,
            number=number,
            description=description,
            naming=naming,
            stacks=stacks[block],
            acquisition=acquisition,
            start_s=clock,
            duration_s=duration,
            snr=snr,
            gain=float(rng.uniform(*profile.gain_range)),
            b_values=B_VALUES if role == "dwi" else (0,),
            post_contrast=step == "t1ce",
        )
        plans.append(plan)
        number += profile.series_number_step
        if role == "dwi":
            plans.append(_adc_plan(profile, plan, style))
            number += profile.series_number_step if profile.adc_takes_slot else 0
        clock += duration + float(rng.uniform(15, 60))
    return StudyPlan(
        profile=profile,
        model=model,
        style=style,
        study_description=descriptions[style % len(descriptions)],
        receive_coil=str(_pick(rng, profile.receive_coils)),
        study_start_s=study_start,
        injection_s=injection,
        series=tuple(plans),
    )


def _adc_plan(profile: VendorProfile, dwi: SeriesPlan, style: int) -> SeriesPlan:
    """The ADC map the scanner derives from its DWI: same slices, derived naming and number."""
    naming = profile.naming("adc")
    description = naming.descriptions[style % len(naming.descriptions)]
    return SeriesPlan(
        role="adc",
        contrast=None,
        number=dwi.number * profile.adc_multiplier + profile.adc_offset,
        description=description.format(dwi=dwi.description),
        naming=naming,
        stacks=dwi.stacks,
        acquisition=dwi.acquisition,
        start_s=dwi.start_s,
        duration_s=dwi.duration_s,
        snr=dwi.snr,
        gain=1.0,
        b_values=B_VALUES,
        protocol_name=dwi.description,
    )
