"""Series volumes from DICOM geometry, the common grid of several contrasts, and the way back to a series.

Truth comes from the simulator: the manifest records each series' grid, and the
subject's noise-free volumes (`Subject.clean`, 1 mm RAS) are what the scanner
imaged, seen through each series' voxel (`simulation.dicom_geometry.partial_volume`).
"""

from __future__ import annotations

import copy
import dataclasses
import io

import highdicom as hd
import numpy as np
import pydicom
import pytest
from highdicom.legacy import LegacyConvertedEnhancedMRImage
from pydicom.dataset import Dataset
from pydicom.uid import JPEGLSLossless, RLELossless

from models.data.resampling import resample_to_grid
from operators.errors import VolumeError
from operators.volume.dicom_volume import LPS_TO_RAS, SeriesVolume, series_volume
from operators.volume.volume_assembly import CommonGrid, choose_reference, common_grid, to_reference_geometry
from product.errors import ProductError
from simulation.dicom_geometry import SliceStack, partial_volume

CONTRASTS = ("t1", "t2", "flair")
SHIFTS_MM = [(1, 0, 0), (-1, 0, 0), (0, 1, 0), (0, -1, 0), (0, 0, 1), (0, 0, -1)]


@pytest.fixture(scope="module")
def volumes(simulated_datasets) -> dict[str, SeriesVolume]:
    """The three contrast series of the simulated study as volumes."""
    return {contrast: series_volume(simulated_datasets[contrast]) for contrast in CONTRASTS}


@pytest.fixture(scope="module")
def grid(volumes) -> CommonGrid:
    """T1 + T2 + FLAIR on the default 1 mm grid."""
    return common_grid(volumes)


def _written_and_read(ds: Dataset) -> Dataset:
    """The dataset as a receiver gets it: encoded to a file and parsed again."""
    buffer = io.BytesIO()
    ds.save_as(buffer, enforce_file_format=True)
    buffer.seek(0)
    return pydicom.dcmread(buffer)


def _correlation(a: np.ndarray, b: np.ndarray, mask: np.ndarray) -> float:
    return float(np.corrcoef(a[mask], b[mask])[0, 1])


def _sorted_record_grid(record) -> tuple[np.ndarray, bool]:
    """The manifest's grid (instance order) re-expressed in slice order along the normal, and whether it flipped."""
    affine = np.array(record.affine, dtype=np.float64)
    normal = np.cross(affine[:3, 0], affine[:3, 1])
    if affine[:3, 2] @ normal > 0:
        return affine, False
    affine[:3, 3] += affine[:3, 2] * (record.shape[2] - 1)
    affine[:3, 2] *= -1
    return affine, True


def _stack(volume: SeriesVolume, datasets: list[Dataset]) -> SliceStack:
    """The simulator's description of a series' slices, for its partial-volume model."""
    a = volume.affine_lps
    row, column = a[:3, 0] / volume.pixel_spacing[1], a[:3, 1] / volume.pixel_spacing[0]
    columns, rows, _ = volume.shape
    thickness = float(datasets[0].SliceThickness)
    return SliceStack(row, column, volume.pixel_spacing, rows, columns, volume.slice_positions, thickness)


def _seen_by_scanner(subject, contrast: str, volume: SeriesVolume, datasets: list[Dataset]) -> np.ndarray:
    """The subject's noise-free contrast blurred by the series' voxel (slice thickness, pixel size)."""
    return partial_volume(subject.clean[contrast], _stack(volume, datasets))


def _alignment(image: np.ndarray, affine: np.ndarray, truth: np.ndarray, truth_affine: np.ndarray, covered):
    """Correlation of `image` with `truth` inside the head, unshifted and with truth shifted 1 mm each way.

    Sampled on every second voxel (the same voxel centres, 8x fewer) to keep the test light.
    """
    image, covered = image[::2, ::2, ::2], covered[::2, ::2, ::2]
    coarse = affine @ np.diag([2.0, 2.0, 2.0, 1.0])
    scores = []
    for shift in [(0, 0, 0), *SHIFTS_MM]:
        moved = np.eye(4)
        moved[:3, 3] = shift
        sampled = resample_to_grid(truth, truth_affine, moved @ coarse, image.shape)
        if not scores:
            head = covered & (sampled > 0.05 * sampled.max())
        scores.append(_correlation(image, sampled, head))
    return scores[0], scores[1:]


# --- one series ----------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("contrast", CONTRASTS)
def test_series_volume_reproduces_the_written_grid_and_pixels(contrast, simulated_study, simulated_datasets, volumes):
    record = simulated_study.by_contrast(contrast)
    volume = volumes[contrast]
    affine, flipped = _sorted_record_grid(record)
    assert volume.shape == tuple(record.shape)
    np.testing.assert_allclose(volume.affine_lps, affine, atol=1e-3)
    np.testing.assert_allclose(volume.affine_ras, np.diag([-1.0, -1.0, 1.0, 1.0]) @ affine, atol=1e-3)
    by_instance = sorted(simulated_datasets[contrast], key=lambda ds: int(ds.InstanceNumber))
    expected = np.stack([ds.pixel_array.T for ds in by_instance], axis=-1).astype(np.float32)
    order = slice(None, None, -1) if flipped else slice(None)
    assert volume.array.dtype == np.float32
    assert np.array_equal(volume.array, expected[:, :, order])
    assert volume.sop_instance_uids == tuple(ds.SOPInstanceUID for ds in by_instance[order])
    np.testing.assert_allclose(volume.slice_positions, [ds.ImagePositionPatient for ds in by_instance[order]])
    assert volume.series_uid == record.series_instance_uid
    assert volume.frame_of_reference_uid == simulated_study.frame_of_reference_uid
    assert volume.slice_spacing == pytest.approx(np.linalg.norm(affine[:3, 2]), abs=1e-3)


def test_series_volume_agrees_with_highdicom_voxel_for_voxel(simulated_datasets, volumes):
    reference = hd.get_volume_from_series(simulated_datasets["t2"], dtype=np.float32)
    ours = volumes["t2"]
    index = np.random.default_rng(0).integers(0, reference.array.shape, size=(500, 3))
    patient = np.c_[index, np.ones(len(index))] @ reference.affine.T
    ours_index = (patient @ np.linalg.inv(ours.affine_lps).T)[:, :3]
    np.testing.assert_allclose(ours_index, np.round(ours_index), atol=1e-3)
    i, j, k = np.round(ours_index).astype(int).T
    assert np.array_equal(ours.array[i, j, k], reference.array[tuple(index.T)])


@pytest.mark.parametrize("syntax", [RLELossless, JPEGLSLossless], ids=["rle", "jpeg-ls"])
def test_compressed_series_gives_bitwise_the_same_volume(syntax, simulated_study, volumes):
    folder = simulated_study.out / simulated_study.by_contrast("t2").folder
    datasets = []
    for path in sorted(folder.glob("*.dcm")):
        ds = pydicom.dcmread(path)
        ds.compress(syntax, generate_instance_uid=False)
        datasets.append(_written_and_read(ds))
    assert datasets[0].file_meta.TransferSyntaxUID == syntax
    volume = series_volume(datasets)
    assert np.array_equal(volume.array, volumes["t2"].array)
    assert np.array_equal(volume.affine_lps, volumes["t2"].affine_lps)
    assert volume.sop_instance_uids == volumes["t2"].sop_instance_uids


def _legacy_converted(datasets: list[Dataset]) -> Dataset:
    """A Legacy Converted Enhanced MR instance of the series (highdicom), written and read back."""
    converted = LegacyConvertedEnhancedMRImage(
        datasets[::-1], series_instance_uid=hd.UID(), series_number=99, sop_instance_uid=hd.UID(), instance_number=1
    )
    return _written_and_read(converted)


def test_enhanced_multiframe_gives_the_same_volume(simulated_datasets, volumes):
    enhanced = _legacy_converted(simulated_datasets["t2"])
    assert "PlanePositionSequence" in enhanced.PerFrameFunctionalGroupsSequence[0]
    assert "PlaneOrientationSequence" in enhanced.SharedFunctionalGroupsSequence[0]
    volume = series_volume([enhanced])
    classic = volumes["t2"]
    assert np.array_equal(volume.array, classic.array)
    np.testing.assert_allclose(volume.affine_lps, classic.affine_lps, atol=1e-6)
    assert set(volume.sop_instance_uids) == {enhanced.SOPInstanceUID}
    assert sorted(volume.frame_numbers) == list(range(1, enhanced.NumberOfFrames + 1))
    frame_positions = [
        enhanced.PerFrameFunctionalGroupsSequence[n - 1].PlanePositionSequence[0].ImagePositionPatient
        for n in volume.frame_numbers
    ]
    np.testing.assert_allclose(frame_positions, classic.slice_positions)


def test_rescale_slope_and_intercept_apply_per_instance_and_per_frame(simulated_datasets, volumes):
    datasets = [copy.deepcopy(ds) for ds in simulated_datasets["t2"]]
    for ds in datasets:
        ds.RescaleSlope, ds.RescaleIntercept = 2, -5
    assert np.array_equal(series_volume(datasets).array, volumes["t2"].array * 2 - 5)
    enhanced = _legacy_converted(simulated_datasets["t2"])
    frame = enhanced.PerFrameFunctionalGroupsSequence[0]
    transformation = Dataset()
    transformation.RescaleSlope, transformation.RescaleIntercept, transformation.RescaleType = 3, 10, "US"
    frame.PixelValueTransformationSequence = [transformation]  # this frame's own value overrides the shared one
    volume = series_volume([enhanced])
    k = volume.frame_numbers.index(1)
    assert np.array_equal(volume.array[:, :, k], volumes["t2"].array[:, :, k] * 3 + 10)
    others = np.arange(volume.shape[2]) != k
    assert np.array_equal(volume.array[:, :, others], volumes["t2"].array[:, :, others])


def test_small_position_jitter_is_tolerated(simulated_datasets, volumes):
    rng = np.random.default_rng(1)
    datasets = [copy.deepcopy(ds) for ds in simulated_datasets["t2"]]
    for ds in datasets:
        ds.ImagePositionPatient = [round(float(v) + rng.uniform(-0.02, 0.02), 5) for v in ds.ImagePositionPatient]
    volume = series_volume(datasets)
    np.testing.assert_allclose(volume.affine_lps, volumes["t2"].affine_lps, atol=0.02)


def test_a_single_slice_is_refused_naming_the_series(simulated_datasets):
    datasets = simulated_datasets["t2"][:1]
    with pytest.raises(VolumeError, match="only 1 slice") as caught:
        series_volume(datasets)
    assert datasets[0].SeriesInstanceUID in str(caught.value) and "T2 TSE AX" in str(caught.value)


def test_missing_image_position_is_refused_naming_tag_and_instance(simulated_datasets):
    datasets = list(simulated_datasets["t2"])
    broken = copy.deepcopy(datasets[12])
    del broken.ImagePositionPatient
    datasets[12] = broken
    with pytest.raises(VolumeError, match=r"ImagePositionPatient \(0020,0032\) missing") as caught:
        series_volume(datasets)
    assert broken.SOPInstanceUID in str(caught.value) and broken.SeriesInstanceUID in str(caught.value)


def test_uneven_spacing_is_refused_listing_the_gaps(simulated_datasets):
    datasets = sorted(simulated_datasets["t2"], key=lambda ds: int(ds.InstanceNumber))
    del datasets[len(datasets) // 2]
    with pytest.raises(VolumeError, match="not evenly spaced") as caught:
        series_volume(datasets)
    message = str(caught.value)
    assert "6.1 mm x27" in message and "12.2 mm x1" in message and datasets[0].SeriesInstanceUID in message


def test_a_series_of_constant_pixels_is_refused_naming_it(simulated_datasets):
    datasets = [copy.deepcopy(ds) for ds in simulated_datasets["t2"]]
    for ds in datasets:
        ds.PixelData = bytes(len(ds.PixelData))
    with pytest.raises(VolumeError, match="every pixel of its .* images is 0: the series holds no image") as caught:
        series_volume(datasets)
    assert datasets[0].SeriesInstanceUID in str(caught.value)


def _dual_echo(datasets, early_te=12.0):
    """A PD/T2 dual-echo series: each image again as an early echo (new SOP Instance, EchoTime `early_te`)."""
    from pydicom.uid import generate_uid

    series = []
    for ds in datasets:
        early, late = copy.deepcopy(ds), copy.deepcopy(ds)
        early.SOPInstanceUID, early.EchoTime, early.EchoNumbers = generate_uid(), early_te, 1
        early.InstanceNumber = 2 * int(ds.InstanceNumber) - 1
        late.EchoNumbers, late.InstanceNumber = 2, 2 * int(ds.InstanceNumber)
        series += [early, late]
    return series


def test_a_dual_echo_series_is_judged_and_built_by_its_late_echo(simulated_datasets):
    from operators.selection.series_info import series_info_from_datasets
    from operators.volume.volume_assembly_operator import latest_echo

    single = simulated_datasets["t2"]
    dual = _dual_echo(single)
    info = series_info_from_datasets(dual)
    late_te = float(single[0].EchoTime)
    assert info.echo_times == (12.0, late_te) and info.echo_time == late_te
    late = latest_echo(dual)
    assert [ds.SOPInstanceUID for ds in late] == [ds.SOPInstanceUID for ds in single]
    assert series_volume(late).shape == series_volume(single).shape
    assert latest_echo(single) == single


def test_assembly_uses_the_late_echo_of_a_dual_echo_series_and_says_so(simulated_datasets):
    from operators.study_state import StudyState
    from operators.volume.volume_assembly_operator import assemble_volumes

    dual, t1 = _dual_echo(simulated_datasets["t2"]), simulated_datasets["t1"]
    uids = {"t1": t1[0].SeriesInstanceUID, "t2": dual[0].SeriesInstanceUID}
    state = StudyState(input_path="study", chosen=uids, datasets={uids["t1"]: list(t1), uids["t2"]: dual})
    assemble_volumes(state)
    assert state.active, state.reason
    assert len(state.datasets[uids["t2"]]) == len(dual) // 2
    assert state.volumes["t2"].sop_instance_uids[0] in {ds.SOPInstanceUID for ds in simulated_datasets["t2"]}
    (note,) = [n for n in state.notes if "echoes" in n]
    assert note.startswith(f"t2: series {uids['t2']} holds 2 echoes; its longest (EchoTime")


def test_several_series_and_repeated_positions_are_refused(simulated_datasets):
    with pytest.raises(VolumeError, match="2 series"):
        series_volume(simulated_datasets["t2"][:3] + simulated_datasets["t1"][:3])
    with pytest.raises(VolumeError, match="several images at one position"):
        series_volume(simulated_datasets["t2"] + simulated_datasets["t2"][:1])


def test_volume_error_is_a_node_error_and_a_value_error():
    assert issubclass(VolumeError, ProductError) and issubclass(VolumeError, ValueError)


# --- the common grid -----------------------------------------------------------------------------------------------


def test_common_grid_is_axis_aligned_ras_covering_every_series(grid, volumes):
    assert np.array_equal(grid.affine_ras[:3, :3], np.eye(3)) and grid.spacing_mm == 1.0
    low = grid.affine_ras[:3, 3] - 0.5
    high = low + np.array(grid.shape)
    for key, volume in volumes.items():
        edges = [(-0.5, n - 0.5) for n in volume.shape]
        corners = np.array([[i, j, k, 1.0] for i in edges[0] for j in edges[1] for k in edges[2]])
        ras = (corners @ volume.affine_ras.T)[:, :3]
        assert np.all(ras >= low - 1e-6) and np.all(ras <= high + 1e-6), key
        assert grid.volumes[key].shape == grid.shape and grid.volumes[key].dtype == np.float32
        assert not grid.volumes[key][~grid.coverage[key]].any()
    # The T2 block (30 slices 6.1 mm apart, about 183 mm) covers less than the 3D slabs (192 mm, whole head).
    assert grid.coverage["t2"].sum() < grid.coverage["t1"].sum()
    assert np.array_equal(grid.coverage["t1"], grid.coverage["flair"])


@pytest.mark.parametrize("contrast", CONTRASTS)
def test_common_grid_puts_each_contrast_where_its_anatomy_is(
    contrast, grid, volumes, simulated_subject, simulated_datasets
):
    truth = _seen_by_scanner(simulated_subject, contrast, volumes[contrast], simulated_datasets[contrast])
    score, shifted = _alignment(
        grid.volumes[contrast], grid.affine_ras, truth, simulated_subject.affine, grid.coverage[contrast]
    )
    assert score > 0.9
    assert score > max(shifted), f"a 1 mm shift fits better: {score:.3f} vs {np.round(shifted, 3)}"


def test_oblique_series_lands_where_its_anatomy_is(volumes, simulated_subject, simulated_datasets):
    oblique = volumes["t2"]
    tilt = np.degrees(np.arccos(abs(oblique.normal_lps[2])))
    assert tilt > 2.0, "the simulated T2 should be oblique for this test to mean something"
    truth = _seen_by_scanner(simulated_subject, "t2", oblique, simulated_datasets["t2"])
    # The same slices with their obliquity dropped (the nearest axis-aligned orientation, same centre).
    straight_axes = np.diag(
        np.sign(np.diag(oblique.affine_lps[:3, :3])) * np.linalg.norm(oblique.affine_lps[:3, :3], axis=0)
    )
    centre = oblique.affine_lps @ np.r_[(np.array(oblique.shape) - 1) / 2.0, 1.0]
    straight_affine = np.eye(4)
    straight_affine[:3, :3] = straight_axes
    straight_affine[:3, 3] = centre[:3] - straight_axes @ ((np.array(oblique.shape) - 1) / 2.0)
    straight = dataclasses.replace(oblique, affine_lps=straight_affine)
    scores = {}
    for name, volume in (("oblique", oblique), ("straight", straight)):
        coarse = common_grid({"t2": volume}, spacing_mm=2.0)
        image, head = coarse.volumes["t2"], coarse.coverage["t2"]
        sampled = resample_to_grid(truth, simulated_subject.affine, coarse.affine_ras, coarse.shape)
        scores[name] = _correlation(image, sampled, head & (sampled > 0.05 * sampled.max()))
    assert scores["oblique"] > 0.9
    assert scores["oblique"] - scores["straight"] > 0.05, scores


def test_grid_extent_of_one_series_covers_only_that_series(volumes):
    small = common_grid(volumes, spacing_mm=4.0, extent="t2")
    assert small.coverage["t2"].mean() > 0.5
    union = common_grid(volumes, spacing_mm=4.0)
    assert np.prod(small.shape) < np.prod(union.shape)
    with pytest.raises(VolumeError, match="extent 'dwi'"):
        common_grid(volumes, extent="dwi")


def test_different_frames_of_reference_are_refused_naming_both_series(volumes):
    moved = dataclasses.replace(volumes["t2"], frame_of_reference_uid="1.2.826.0.1.3680043.10.9.9")
    pair = {"t1": volumes["t1"], "t2": moved}
    with pytest.raises(VolumeError, match="registration") as caught:
        common_grid(pair, spacing_mm=4.0)
    message = str(caught.value)
    assert volumes["t1"].series_uid in message and moved.series_uid in message and "FrameOfReferenceUID" in message
    allowed = common_grid(pair, spacing_mm=4.0, allow_different_frames=True)
    assert allowed.coverage["t2"].any()
    unknown = dataclasses.replace(volumes["t2"], frame_of_reference_uid=None)
    with pytest.raises(VolumeError, match=r"\(none\)"):
        common_grid({"t1": volumes["t1"], "t2": unknown}, spacing_mm=4.0)


# --- back to a reference series ------------------------------------------------------------------------------------


def test_to_reference_geometry_lines_up_with_the_reference_slices(grid, volumes, simulated_subject, simulated_datasets):
    reference = volumes["t2"]
    synthetic = to_reference_geometry(grid.volumes["t1"], grid.affine_ras, reference)
    assert synthetic.shape == reference.shape and synthetic.dtype == np.float32
    assert synthetic.shape[2] == len(simulated_datasets["t2"])
    # Each T2 instance's own plane, from its own header, against the slice the output put at its UID.
    truth, output = [], []
    for ds in simulated_datasets["t2"]:
        plane = np.eye(4)
        orientation = np.array(ds.ImageOrientationPatient, dtype=np.float64)
        plane[:3, 0] = orientation[:3] * float(ds.PixelSpacing[1])
        plane[:3, 1] = orientation[3:] * float(ds.PixelSpacing[0])
        plane[:3, 3] = np.array(ds.ImagePositionPatient, dtype=np.float64)
        shape = (int(ds.Columns), int(ds.Rows), 1)
        truth.append(
            resample_to_grid(simulated_subject.clean["t1"], simulated_subject.affine, LPS_TO_RAS @ plane, shape)
        )
        output.append(synthetic[:, :, reference.sop_instance_uids.index(ds.SOPInstanceUID), None])
    truth, output = np.concatenate(truth, axis=2), np.concatenate(output, axis=2)
    head = truth > 0.05 * truth.max()
    assert _correlation(output, truth, head) > 0.9
    real_t1 = to_reference_geometry(volumes["t1"].array, volumes["t1"].affine_ras, reference)
    assert _correlation(real_t1, synthetic, real_t1 > 0.05 * real_t1.max()) > 0.95


def test_to_reference_geometry_refuses_a_non_volume(volumes):
    with pytest.raises(VolumeError, match="3D"):
        to_reference_geometry(np.zeros((4, 4)), np.eye(4), volumes["t2"])


def test_reference_is_the_finest_axial_series_with_a_reason(volumes):
    choice = choose_reference(volumes)
    assert choice == "t2" and isinstance(choice, str)
    assert "axial" in choice.reason and volumes["t2"].series_uid in choice.reason
    fallback = choose_reference({"flair": volumes["flair"], "t1": volumes["t1"]})
    assert fallback == "flair"  # same pixels and spacing as the T1: the first key in sorted order
    assert "no axial series" in fallback.reason
    finer = dataclasses.replace(volumes["t1"], pixel_spacing=(0.5, 0.5))
    assert choose_reference({"flair": volumes["flair"], "t1": finer}) == "t1"
    with pytest.raises(VolumeError):
        choose_reference({})


CONTRAST_KEYWORDS = (
    *("SeriesDescription", "ProtocolName", "SequenceName", "ScanningSequence", "SequenceVariant", "ScanOptions"),
    *("RepetitionTime", "EchoTime", "InversionTime", "FlipAngle", "ContrastBolusAgent", "ContrastBolusRoute"),
)


def test_a_series_recognised_by_its_pixels_is_decoded_once(simulated_datasets):
    from operators.identification.contrast_from_image import identify_from_images
    from operators.identification.contrast_identification import identify_study
    from operators.identification.contrast_rules import DEFAULT_RULES
    from operators.selection.series_info import series_info_from_datasets
    from operators.study_state import StudyState
    from operators.volume.volume_assembly_operator import assemble_volumes

    datasets = {}
    for instances in simulated_datasets.values():
        stripped = [copy.deepcopy(ds) for ds in instances]
        for ds in stripped:
            for keyword in CONTRAST_KEYWORDS:
                if keyword in ds:
                    delattr(ds, keyword)
        datasets[stripped[0].SeriesInstanceUID] = stripped
    infos = [series_info_from_datasets(instances) for instances in datasets.values()]
    built: dict[str, SeriesVolume] = {}
    identified = identify_from_images(identify_study(infos, DEFAULT_RULES), datasets, built=built)
    assert set(built) == set(datasets), "every series the tags left open is built for the classifier"
    chosen = {i.contrast.value: i.series.series_instance_uid for i in identified if i.contrast.value != "other"}
    assert len(chosen) >= 2, [i.evidence for i in identified]
    state = StudyState(input_path="test", datasets=datasets, chosen=chosen, series_volumes=dict(built))
    assemble_volumes(state)
    assert state.outcome.value == "running", state.reason
    assert all(state.volumes[c] is built[uid] for c, uid in chosen.items()), "volume assembly decodes none again"
    assert not state.series_volumes, "the built volumes are handed over, not kept twice"
