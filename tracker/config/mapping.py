"""The application config mapped onto the parameters of the pure layers below it (core, identity).

The tracking core and the identity engine import nothing from ``tracker.config``: they read their own small frozen
parameter dataclasses, built here from the validated config sections. Construction sites call e.g.
``MultiObjectTracker(tracker_params(cfg.tracker, scale), kalman_params(cfg.kalman), fps=fps)``.

Appearance thresholds are configured as standardised similarities (``tracker.identity.scale``) and turned into
cosines here with the Re-ID model's ``AppearanceScale`` (``tracker.models.reid.stats.appearance_scale``).
"""

from __future__ import annotations

from tracker.config.hub import HubConfig
from tracker.config.tracker import KalmanConfig, TrackerConfig
from tracker.core.params import KalmanParams, TrackerParams
from tracker.identity.params import CameraLink, GroundParams, IdentityParams, NormalizationParams, TopologyParams
from tracker.identity.scale import REFERENCE_SCALE, AppearanceScale

__all__ = ["kalman_params", "tracker_params", "identity_params"]


def kalman_params(cfg: KalmanConfig) -> KalmanParams:
    """The ``kalman`` section -> the Kalman filter's noise model."""
    return KalmanParams(position_std_per_height=cfg.std_weight_position,
                        velocity_std_per_height=cfg.std_weight_velocity)


def tracker_params(cfg: TrackerConfig, scale: AppearanceScale = REFERENCE_SCALE) -> TrackerParams:
    """The ``tracker`` section -> the per-camera tracker's tunables (``trust_unambiguous_motion`` is the camera
    pipeline's: it decides whether to pass ``unambiguous`` to ``MultiObjectTracker.update``).

    ``max_cosine_distance`` is configured as a standardised distance (1 - u) and becomes the cosine distance
    ``1 - scale.cosine(u)`` for the Re-ID model of ``scale``, with u raised to the model's ``match_floor`` (its
    95th-percentile different-person pair) where that is higher."""
    return TrackerParams(
        high_score_threshold=cfg.high_score_threshold,
        new_track_score_threshold=cfg.new_track_score_threshold,
        n_init_frames=cfg.n_init_frames,
        max_age_s=cfg.max_age_s,
        gating_chi2=cfg.gating_chi2,
        max_cosine_distance=1.0 - scale.cosine(max(1.0 - cfg.max_cosine_distance, scale.match_floor())),
        appearance_weight=cfg.appearance_weight,
        max_iou_distance=cfg.max_iou_distance,
        low_score_max_iou_distance=cfg.low_score_max_iou_distance,
        iou_max_missed_frames=cfg.iou_max_missed_frames,
        iou_pass_appearance_gate=cfg.iou_pass_appearance_gate,
        matching_cascade=cfg.matching_cascade,
        ema_alpha=cfg.ema_alpha,
        appearance_update_max_iou=cfg.appearance_update_max_iou,
        output_box=cfg.output_box,
        gallery_size=cfg.gallery_size,
        max_history=cfg.max_history,
        split_switches=cfg.split_switches,
        switch_min_embeddings=cfg.switch_min_embeddings,
        switch_sigmas=cfg.switch_sigmas,
        switch_watch_s=cfg.switch_watch_s,
        fill_gaps_max_s=cfg.fill_gaps_max_s,
    )


def identity_params(cfg: HubConfig, scale: AppearanceScale = REFERENCE_SCALE) -> IdentityParams:
    """The ``hub`` section -> the identity engine's tunables, camera normalisation and topology.

    The appearance thresholds (``match_threshold``, ``correction_margin``, ``ground_weight``,
    ``ground_merge_min_similarity``) are standardised similarities; they become cosines in the engine's space:
    camera-mean-centred (``scale.centred_cosine``) with ``camera_normalization: mean``, raw (``scale.cosine``)
    with ``none`` (margins and weights scale by the span alone). ``match_threshold`` is raised to the model's
    ``match_floor`` (its 95th-percentile different-person pair) where that is higher.

    A camera link's ``min_transition_s`` of 0 means "the default" (``default_min_transition_s``), as the config
    documents; the topology gets None for it.
    """
    centred = cfg.camera_normalization == "mean"
    level = scale.centred_cosine if centred else scale.cosine
    unit = scale.centred_span if centred else scale.span
    return IdentityParams(
        match_threshold=level(max(cfg.match_threshold, scale.match_floor())),
        min_embedding_quality=cfg.min_embedding_quality,
        min_embeddings=cfg.min_embeddings,
        max_defer_s=cfg.max_defer_s,
        correction_window_s=cfg.correction_window_s,
        correction_margin=cfg.correction_margin * unit,
        prototypes_per_camera=cfg.prototypes_per_camera,
        track_timeout_s=cfg.track_timeout_s,
        gallery_retention_s=cfg.gallery_retention_s,
        max_identities=cfg.max_identities,
        relink_max_gap_s=cfg.relink_max_gap_s,
        relink_max_distance=cfg.relink_max_distance,
        normalization=NormalizationParams(mode=cfg.camera_normalization,
                                          prior_tracks=cfg.camera_norm_prior_tracks,
                                          window_tracks=cfg.camera_norm_window_tracks),
        topology=TopologyParams(
            default_relation=cfg.default_camera_relation,
            default_min_transition_s=cfg.default_min_transition_s,
            links=tuple(CameraLink(link.camera_a, link.camera_b, link.overlap, link.min_transition_s or None)
                        for link in cfg.camera_links)),
        ground=GroundParams(
            sample_interval_s=cfg.ground_sample_interval_s,
            history_s=cfg.ground_history_s,
            position_sigma_floor_m=cfg.ground_position_sigma_floor_m,
            min_shared_s=cfg.ground_min_shared_s,
            gate_sigmas=cfg.ground_gate_sigmas,
            weight=cfg.ground_weight * unit,
            appearance_weight=cfg.ground_appearance_weight,
            handover_s=cfg.ground_handover_s,
            max_speed_mps=cfg.ground_max_speed_mps,
            travel_margin_sigmas=cfg.ground_travel_margin_sigmas,
            refine_interval_s=cfg.ground_refine_interval_s,
            refine_span_s=cfg.ground_refine_span_s,
            merge_max_sigmas=cfg.ground_merge_max_sigmas,
            merge_min_similarity=level(cfg.ground_merge_min_similarity)),
    )
