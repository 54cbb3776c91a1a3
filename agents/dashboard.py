"""The dashboard: HTML pages with plotly figures, served by the API app under ``/dashboard``.

Pages (every route declares its ``@access`` rule, like the API's):

* ``/dashboard/login`` (public): a form that takes an API token and starts a session of
  its own (:func:`db.tokens.start_session`), whose secret, not the token, goes in an
  ``HttpOnly``, ``SameSite=Strict`` cookie (:data:`agents.api.SESSION_COOKIE`): it reads
  the dashboard and the API, writes nothing, ends at sign-out, after its time, or when
  its token is revoked.
* ``/dashboard`` (read): every campaign with its counts (:data:`COUNTS`: measured,
  feasible, failed, abandoned, running, proposed), best value, EF and AF.
* ``/dashboard/campaigns/{name}`` (read): the campaign's status, strategy and pool, the
  same counts, best-so-far, Top% found against random sampling, proposals against
  measurements, and leave-one-out parity and calibration of a *diagnostic* GP: a plain
  ``gp`` fitted to the campaign's measurements (:mod:`discovery.diagnostics`), named as
  such, and said not to be the campaign's own model where its strategy uses another
  surrogate, warps or a prior.
* ``/dashboard/literature`` (read): records read from papers.

Every page says when it was drawn (``as of HH:MM:SS UTC``): pages do not refresh
themselves. With the database down a page answers 503 with an HTML page
(:func:`unavailable_page`), as the API answers JSON.

Pages without a valid token answer 401 with a link to the login page (not a redirect, so
that the API's access audit holds for HTML routes too). Login and logout are POSTs that
must come from a page of this site (``Origin`` or ``Referer`` naming this host), else 403:
this blocks login CSRF. Figures travel as JSON in ``data-figure`` attributes and are drawn
by a static script, so pages run under a strict Content-Security-Policy with no inline
script; plotly.js is served from the installed ``plotly`` package (no CDN).
"""

from __future__ import annotations

import hashlib
import html
import logging
import math
import re
import shlex
import threading
import warnings
from collections import OrderedDict
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from functools import cache
from typing import Annotated, Any
from urllib.parse import parse_qs, quote, unquote, urlsplit

import numpy as np
import plotly.graph_objects as go
import plotly.io as pio
import torch
from botorch.models import SingleTaskGP
from fastapi import Depends, FastAPI, HTTPException, Query, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from linear_operator.utils.warnings import NumericalWarning

from agents.api import SESSION_COOKIE, Service, access, caller
from agents.campaign import (
    CampaignAgent,
    CampaignStatus,
    Observation,
    batch_order,
    pareto_front,
    trial_strategy,
)
from agents.serialize import as_seen_by
from db import CampaignNotFoundError
from db.campaigns import CLOSED
from db.documents import utcnow
from db.tokens import Principal, authenticate, end_session, start_session
from discovery.compositions import formula_of
from discovery.diagnostics import Calibration, LeaveOneOut, calibration, loo_predictions
from discovery.domain import (
    Campaign,
    Measurement,
    Objective,
    OutcomeConstraint,
    Trial,
    merged_parts,
)
from discovery.planners import GPPlanner, fitted_outcomes, make_planner
from discovery.spaces import SearchSpace
from discovery.surrogates import DTYPE, data_hash, fit_gp
from literature.records import LOWER_BOUNDS, UPPER_BOUNDS

logger = logging.getLogger(__name__)

#: Fewest measurements for which the GP panels are drawn.
MIN_GP_POINTS = 3
#: Most recent measurements the dashboard's GP is fitted to (the fit is cubic in n).
MAX_GP_POINTS = 500
#: How long the login cookie lives, in seconds.
COOKIE_SECONDS = 12 * 3600
#: The cookie an older matloop kept the API token itself in: deleted at sign-in and out.
OLD_TOKEN_COOKIE = "matloop_token"
#: Shown rows of the latest-trials table.
TRIAL_ROWS = 25
#: Margins of the GP panels, whose subtitles take two lines.
GP_MARGIN = {"l": 64, "r": 20, "t": 112, "b": 52}

CSP = (
    "default-src 'none'; script-src 'self'; style-src 'self' 'unsafe-inline'; "
    "img-src 'self' data: blob:; font-src 'self' data:; connect-src 'self'; "
    "form-action 'self'; frame-ancestors 'none'; base-uri 'none'"
)
SECURITY_HEADERS = {
    "Content-Security-Policy": CSP,
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
    "Referrer-Policy": "same-origin",
}

INK = "#1f2937"
MUTED = "#6b7280"
GRID = "#e5e7eb"
PRIMARY = "#4f46e5"
ACCENT = "#d97706"
STRATEGY_COLORS = {"gp": PRIMARY, "random": "#9ca3af"}
OTHER_COLORS = ("#0d9488", "#db2777", "#65a30d", "#7c3aed", "#0891b2")
FONT = "system-ui, -apple-system, 'Segoe UI', Roboto, Helvetica, Arial, sans-serif"


class DashboardError(Exception):
    """A page-level error answered as a small HTML page (401, 403, 404, 503)."""

    def __init__(
        self, status: int, title: str, message: str, login_link: bool = False, back_to: str = ""
    ) -> None:
        super().__init__(message)
        self.status = status
        self.title = title
        self.message = message
        self.login_link = login_link
        self.back_to = back_to  # the page asked for, where signing in returns


def back_to(target: str | None) -> str:
    """``target`` if it is a dashboard page of this site to return to, else ``/dashboard``.

    Only a path under ``/dashboard`` (with its query): never another site (``//evil``,
    ``https://...``), so a link cannot send whoever signs in elsewhere.
    """
    if not target or "\\" in target:
        return "/dashboard"
    parts = urlsplit(target)
    segments = unquote(parts.path).split("/")
    inside = segments[:2] == ["", "dashboard"] and not {".", ".."} & set(segments)
    elsewhere = parts.scheme or parts.netloc or not inside
    if elsewhere or segments[2:3] in (["login"], ["logout"], ["static"]):  # no page
        return "/dashboard"
    return target


_bearer = HTTPBearer(auto_error=False)


def viewer(
    request: Request,
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
) -> Principal:
    """The signed-in reader (bearer token or the login cookie); else a 401 or 403 page."""
    try:
        principal = caller(request, credentials)
    except HTTPException:
        asked = request.url.path + (f"?{request.url.query}" if request.url.query else "")
        raise DashboardError(
            401, "Sign in", "This page needs a valid API token.", True, back_to(asked)
        ) from None
    if not principal.can_read():
        raise DashboardError(403, "Forbidden", f"Token {principal.name!r} has no read scope.")
    return principal


Viewer = Annotated[Principal, Depends(viewer)]


def _may_read(principal: Principal, campaign: str | None) -> None:
    """A 403 page unless ``principal`` reads ``campaign`` (None: the literature)."""
    if not principal.reads(campaign):
        what = f"campaign {campaign!r}" if campaign is not None else "the literature"
        raise DashboardError(
            403,
            "Forbidden",
            f"Token {principal.name!r} reads its campaigns {sorted(principal.campaigns)} "
            f"alone, not {what}.",
        )


# -- what the campaign page shows --------------------------------------------------------
@dataclass(frozen=True)
class Surrogate:
    """A plain diagnostic GP fitted to a campaign's measurements, with its LOO diagnostics.

    Plain: no outcome or input warping and no prior, whatever the campaign proposes with
    (:func:`model_gap` says when that differs).

    Attributes:
        model: The fitted GP (trained on ``sign * y / scale``, so larger is better).
        sign: +1 for a maximised objective, -1 for a minimised one.
        scale: The objective's fitting scale (:func:`discovery.planners.fitting_scale`;
            1 unless its spread is tiny or huge), in its units.
        trial_ids: Trials whose measurements trained the model, shape ``n``.
        loo: Leave-one-out predictions in the objective's own units and orientation.
        calibration: Calibration of those predictions.

    """

    model: SingleTaskGP
    sign: float
    scale: float
    trial_ids: list[str]
    loo: LeaveOneOut
    calibration: Calibration


class SurrogateCache:
    """Fitted GPs keyed by campaign, training data and bounds (a page reload refits nothing)."""

    def __init__(self, size: int = 16) -> None:
        self.size = size
        self._items: OrderedDict[str, Surrogate] = OrderedDict()
        self._lock = threading.Lock()

    def get(
        self,
        campaign: str,
        X: np.ndarray,
        y: np.ndarray,
        bounds: np.ndarray,
        fit: Callable[[], Surrogate],
    ) -> Surrogate:
        """The cached surrogate for this data, else ``fit()`` (stored for next time)."""
        digest = hashlib.sha256(np.ascontiguousarray(bounds, dtype=float).tobytes())
        key = f"{campaign}:{data_hash(torch.as_tensor(X), torch.as_tensor(y))}:{digest.hexdigest()}"
        with self._lock:
            if key in self._items:
                self._items.move_to_end(key)
                return self._items[key]
        value = fit()
        with self._lock:
            self._items[key] = value
            while len(self._items) > self.size:
                self._items.popitem(last=False)
        return value


def fit_surrogate(
    campaign: Campaign, observed: Sequence[Observation], bounds: np.ndarray, cache: SurrogateCache
) -> Surrogate:
    """Fit a plain diagnostic GP, as :class:`discovery.planners.GPPlanner` fits ``gp``.

    No warps and no prior: for a campaign whose strategy uses them, or another surrogate,
    this is not its model (:func:`model_gap`), only a check of what its data support.

    Args:
        campaign: The campaign (its space encodes parameters; its first objective is used).
        observed: Completed trials with measurements, at least :data:`MIN_GP_POINTS`.
        bounds: ``2 x d`` bounds of the encoded space (the pool's range for a pool).
        cache: Where fitted models are kept between page loads.

    """
    objective = campaign.objectives[0]
    sign = objective.direction.sign
    X = campaign.space.encode([o.trial.parameters for o in observed])
    y = sign * np.array([o.measurement.values[objective.name] for o in observed], dtype=float)
    ids = [str(o.trial.id) for o in observed]

    def fit() -> Surrogate:
        fitted, scales = fitted_outcomes(y[:, None], warp=False)
        scale = float(scales[0])
        with warnings.catch_warnings():
            # Cholesky jitter on near-duplicate inputs is routine (as in GPPlanner).
            warnings.simplefilter("ignore", NumericalWarning)
            model = fit_gp(
                torch.as_tensor(X, dtype=DTYPE),
                torch.as_tensor(fitted, dtype=DTYPE),
                torch.as_tensor(bounds, dtype=DTYPE),
            )
            loo = loo_predictions(model).rescaled(sign * scale)  # the objective's units
        quality = calibration(loo.observed, loo.mean, loo.std)
        return Surrogate(model, sign, scale, ids, loo, quality)

    return cache.get(campaign.name, X, y, bounds, fit)


def predict(surrogate: Surrogate, X: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Predictive mean and standard deviation of new measurements (noise included).

    Args:
        surrogate: A fitted surrogate.
        X: ``p x d`` encoded points.

    Returns:
        Means and standard deviations, each shape ``p``, in the objective's units and
        orientation.

    """
    if X.shape[0] == 0:
        return np.empty(0), np.empty(0)
    with torch.no_grad(), warnings.catch_warnings():
        warnings.simplefilter("ignore", NumericalWarning)
        posterior = surrogate.model.posterior(
            torch.as_tensor(X, dtype=DTYPE), observation_noise=True
        )
        mean = posterior.mean.reshape(-1).cpu().numpy()
        std = posterior.variance.clamp_min(0).sqrt().reshape(-1).cpu().numpy()
    return surrogate.sign * surrogate.scale * mean, surrogate.scale * std


def model_gap(campaign: Campaign) -> str:
    """Why the diagnostic GP is not the campaign's own model; empty when it is.

    The dashboard fits a plain ``gp`` (no warps, no prior). A campaign that proposes with
    another surrogate (``gnn``, ``ensemble``), warps (``+warp``, ``+iwarp``), a prior or
    no model (``random``) is told apart, so that nobody reads the panels as its model's.
    """
    settings = campaign.settings
    try:
        planner = make_planner(settings.strategy)
    except ValueError:  # a strategy no longer known (a plugin gone): no plain GP either
        planner = None
    plain = (
        isinstance(planner, GPPlanner)
        and planner.surrogate == "gp"
        and not (planner.warp or planner.input_warp)
        and planner.prior is None
        and settings.prior_model is None
    )
    return "" if plain else f"this campaign proposes with {trial_strategy(campaign)}"


def diagnostic_subtitle(gap: str, text: str) -> str:
    """A GP panel's subtitle: which GP on the first line (a strategy is long), then ``text``.

    Args:
        gap: :func:`model_gap` of the campaign (unescaped).
        text: The rest of the subtitle, already escaped.

    """
    which = f"diagnostic GP (plain; {esc(gap)})" if gap else "diagnostic GP"
    return f"{which}<br>{text}"


def strategy_text(campaign: Campaign) -> str:
    """The strategy as ``matloop campaign show`` gives it: ``gp+prior prior=VERSION``.

    The trials' name for it (``+prior`` with a prior model), then the prior model.
    """
    prior = campaign.settings.prior_model
    return trial_strategy(campaign) + ("" if prior is None else f" prior={prior}")


# -- formatting ---------------------------------------------------------------------------
def esc(value: object) -> str:
    """HTML-escape any value (quotes included)."""
    return html.escape(str(value), quote=True)


def num(value: float | None, digits: int = 4) -> str:
    """A number to ``digits`` significant figures; an em dash for None, NaN or inf."""
    if value is None or not math.isfinite(value):
        return "—"
    return f"{value:.{digits}g}"


def objective_label(objective: Objective) -> str:
    """``name (unit)``, escaped for plotly's pseudo-HTML."""
    unit = f" ({objective.unit})" if objective.unit else ""
    return esc(f"{objective.name}{unit}")


def goal(objective: Objective) -> str:
    """``lower is better`` or ``higher is better``."""
    return "higher is better" if objective.direction.sign > 0 else "lower is better"


def parameters_text(parameters: dict[str, Any], digits: int = 4) -> str:
    """Parameters as escaped ``name = value`` lines joined by ``<br>``."""
    lines = []
    for key, value in parameters.items():
        shown = num(value, digits) if isinstance(value, float) else value
        lines.append(f"{esc(key)} = {esc(shown)}")
    return "<br>".join(lines)


def point_text(space: SearchSpace, parameters: dict[str, Any], digits: int = 4) -> str:
    """A trial's point: a composition's formula (what to make), else its parameters.

    A composition's dozens of molar fractions, mostly 0, would hide what it is.
    """
    formula = formula_of(space, parameters)
    return parameters_text(parameters, digits) if formula is None else f"<b>{esc(formula)}</b>"


def _strategy_color(strategy: str, seen: dict[str, str]) -> str:
    if strategy in STRATEGY_COLORS:
        return STRATEGY_COLORS[strategy]
    if strategy not in seen:
        seen[strategy] = OTHER_COLORS[len(seen) % len(OTHER_COLORS)]
    return seen[strategy]


# -- figures --------------------------------------------------------------------------------
def _layout(
    title: str, subtitle: str, x: str, y: str, height: int = 360, **extra: Any
) -> dict[str, Any]:
    """Shared look: title and key numbers top left, legend above the plot, light grid."""
    axis_title: dict[str, Any] = {"font": {"color": MUTED}}
    axis: dict[str, Any] = {
        "gridcolor": GRID,
        "zeroline": False,
        "linecolor": "#d1d5db",
        "ticks": "outside",
        "tickcolor": "#d1d5db",
        "automargin": True,
    }
    return {
        "template": {},
        "title": {
            "text": f"<b>{title}</b>",
            "subtitle": {"text": subtitle, "font": {"size": 12, "color": MUTED}},
            "x": 0,
            "xref": "container",
            "xanchor": "left",
            "y": 1,
            "yref": "container",
            "yanchor": "top",
            "pad": {"t": 12, "l": 4},
            "font": {"size": 15, "color": INK},
        },
        "font": {"family": FONT, "size": 12, "color": INK},
        "height": height,
        "margin": {"l": 64, "r": 20, "t": 96, "b": 52},
        "paper_bgcolor": "white",
        "plot_bgcolor": "white",
        "xaxis": {**axis, "title": {**axis_title, "text": x}},
        "yaxis": {**axis, "title": {**axis_title, "text": y}},
        "legend": {
            "orientation": "h",
            "x": 0,
            "xanchor": "left",
            "y": 1.0,
            "yanchor": "bottom",
            "bgcolor": "rgba(255,255,255,0)",
            "font": {"size": 11},
        },
        "hoverlabel": {"font": {"family": FONT}},
        **extra,
    }


def _log_axis(values: Sequence[float]) -> bool:
    array = np.asarray([v for v in values if math.isfinite(v)], dtype=float)
    return bool(array.size and np.all(array > 0) and array.max() / array.min() > 100)


def best_so_far_figure(
    status: CampaignStatus, values: np.ndarray, feasible: np.ndarray | None = None
) -> go.Figure:
    """Best value so far after each experiment, the measurements, and the data set's best.

    ``feasible`` (one flag per measurement) marks the results that miss the outcome
    constraints: they are experiments, never the best.
    """
    objective = status.campaign.objectives[0]
    n = status.best_so_far.size
    x = np.arange(1, n + 1)
    ok = np.ones(n, dtype=bool) if feasible is None else np.asarray(feasible, dtype=bool)
    fig = go.Figure()
    fig.add_scatter(
        x=x[ok],
        y=values[ok],
        mode="markers",
        name="measured",
        marker={"color": "#cbd5e1", "size": 6},
        hovertemplate="experiment %{x}<br>measured %{y:.4g}<extra></extra>",
    )
    if not ok.all():
        fig.add_scatter(
            x=x[~ok],
            y=values[~ok],
            mode="markers",
            name="infeasible",
            marker={"color": "#b91c1c", "size": 7, "symbol": "x"},
            hovertemplate="experiment %{x}<br>infeasible %{y:.4g}<extra></extra>",
        )
    fig.add_scatter(
        x=x,
        y=status.best_so_far,
        mode="lines",
        line={"shape": "hv", "color": PRIMARY, "width": 3},
        name="best so far",
        hovertemplate="experiment %{x}<br>best %{y:.4g}<extra></extra>",
    )
    reference = [*values.tolist()]
    if status.efficiency is not None:
        best = status.efficiency.pool_best
        reference.append(best)
        fig.add_scatter(
            x=[1, max(n, 1)],
            y=[best, best],
            mode="lines",
            name="data-set best",
            line={"color": ACCENT, "dash": "dash", "width": 2},
            hovertemplate=f"data-set best {num(best)}<extra></extra>",
        )
    best_now = num(float(status.best_so_far[-1])) if n and status.best is not None else "—"
    subtitle = f"best {best_now} after {n} experiments"
    if status.efficiency is not None:
        subtitle += f" · data-set best {num(status.efficiency.pool_best)}"
    layout = _layout(
        "Best so far", subtitle, "experiment", f"{objective_label(objective)} ({goal(objective)})"
    )
    if _log_axis(reference):
        layout["yaxis"].update(type="log", dtick=1)
    fig.update_layout(layout)
    return fig


def top_fraction_figure(status: CampaignStatus) -> go.Figure | None:
    """Top 5% of the pool found against experiments, with random sampling's ``i / N``."""
    efficiency = status.efficiency
    if efficiency is None:
        return None
    pool = status.campaign.pool_size
    n = efficiency.top_fraction.size
    x = np.arange(1, n + 1)
    fig = go.Figure()
    fig.add_scatter(
        x=x,
        y=100 * x / pool,
        mode="lines",
        name="random sampling (i/N)",
        line={"color": MUTED, "dash": "dash", "width": 2},
        hovertemplate="experiment %{x}<br>random %{y:.2f}%<extra></extra>",
    )
    fig.add_scatter(
        x=x,
        y=100 * efficiency.top_fraction,
        mode="lines",
        name="this campaign",
        line={"shape": "hv", "color": PRIMARY, "width": 3},
        fill="tozeroy",
        fillcolor="rgba(79,70,229,0.08)",
        hovertemplate="experiment %{x}<br>top 5% found %{y:.1f}%<extra></extra>",
    )
    subtitle = (
        f"{num(100 * float(efficiency.top_fraction[-1]), 3)}% of the top 5% after {n} "
        f"experiments · EF {num(efficiency.enhancement_factor, 3)} · "
        f"AF {num(efficiency.acceleration_factor, 3)} (random sampling's: above 1)"
    )
    layout = _layout("Top 5% found", subtitle, "experiment", "top 5% of the pool found (%)")
    layout["yaxis"]["rangemode"] = "tozero"
    fig.update_layout(layout)
    return fig


def proposals_figure(
    campaign: Campaign,
    observed: Sequence[Observation],
    pending: Sequence[Trial],
    pending_prediction: tuple[np.ndarray, np.ndarray] | None,
    gap: str = "",
) -> go.Figure:
    """Measured value of each completed trial by strategy, batches shaded, pending marked.

    Pending trials are drawn at the diagnostic GP's prediction, when there is one; ``gap``
    (:func:`model_gap`) says when that GP is not the campaign's model.
    """
    objective = campaign.objectives[0]
    # in proposal order, batch by batch (results may come back in another order)
    observed = sorted(observed, key=lambda o: batch_order(o.trial.batch))
    fig = go.Figure()
    extra: dict[str, str] = {}
    batches = list(dict.fromkeys(o.trial.batch for o in observed))
    shapes: list[dict[str, Any]] = []
    x_all = np.arange(1, len(observed) + 1)
    for k, batch in enumerate(batches):
        members = [i + 1 for i, o in enumerate(observed) if o.trial.batch == batch]
        if k % 2 == 1:
            shapes.append(
                {
                    "type": "rect",
                    "xref": "x",
                    "yref": "paper",
                    "x0": min(members) - 0.5,
                    "x1": max(members) + 0.5,
                    "y0": 0,
                    "y1": 1,
                    "fillcolor": "#f3f4f6",
                    "line": {"width": 0},
                    "layer": "below",
                }
            )
    feasible = [campaign.feasible(o.measurement.values) for o in observed]
    for strategy in dict.fromkeys(o.trial.strategy or "unknown" for o in observed):
        rows = [i for i, o in enumerate(observed) if (o.trial.strategy or "unknown") == strategy]
        text = [
            _trial_hover(
                observed[i].trial, observed[i].measurement.values, objective, campaign.space
            )
            + ("" if feasible[i] else "<br>infeasible: misses the outcome constraints")
            for i in rows
        ]
        fig.add_scatter(
            x=x_all[rows],
            y=[observed[i].measurement.values[objective.name] for i in rows],
            mode="markers",
            name=esc(strategy),
            marker={
                "color": _strategy_color(strategy, extra),
                "size": 9,
                "line": {"color": "white", "width": 1},
                # an infeasible result is hollow (the best-so-far figure marks it too)
                "symbol": [
                    ("diamond" if strategy == "gp" else "circle") + ("" if feasible[i] else "-open")
                    for i in rows
                ],
            },
            text=text,
            hovertemplate="%{text}<extra></extra>",
        )
    if pending:
        x_pending = np.arange(len(observed) + 1, len(observed) + len(pending) + 1)
        text = [_trial_hover(t, None, objective, campaign.space) for t in pending]
        if pending_prediction is not None:
            mean, std = pending_prediction
            fig.add_scatter(
                x=x_pending,
                y=mean,
                error_y={"type": "data", "array": 2 * std, "color": ACCENT, "thickness": 1.5},
                mode="markers",
                name="pending (diagnostic GP mean ± 2σ)",
                marker={
                    "color": ACCENT,
                    "size": 10,
                    "symbol": "diamond-open",
                    "line": {"width": 2},
                },
                text=text,
                hovertemplate="%{text}<br>predicted %{y:.4g}<extra></extra>",
            )
        else:
            for x in x_pending:
                shapes.append(
                    {
                        "type": "line",
                        "xref": "x",
                        "yref": "paper",
                        "x0": x,
                        "x1": x,
                        "y0": 0,
                        "y1": 1,
                        "line": {"color": ACCENT, "dash": "dot", "width": 2},
                    }
                )
    predicted = ""
    if pending and pending_prediction is not None:
        predicted = " (diagnostic GP mean ± 2σ" + (f"; plain GP, {esc(gap)})" if gap else ")")
    subtitle = (
        f"{len(observed)} measured in {len(batches)} batches · {len(pending)} pending"
        f"{predicted} · shading alternates by batch"
    )
    layout = _layout(
        "Proposals and measurements",
        subtitle,
        "experiment (proposal order)",
        f"{objective_label(objective)} ({goal(objective)})",
        height=400,
        shapes=shapes,
        showlegend=True,
    )
    values = [o.measurement.values[objective.name] for o in observed]
    if _log_axis(values) and pending_prediction is None:
        layout["yaxis"]["type"] = "log"
    fig.update_layout(layout)
    return fig


def pareto_figure(campaign: Campaign, observed: Sequence[Observation]) -> go.Figure:
    """The first two objectives of every result, with the measured Pareto front marked.

    The front is taken over every objective (a point the plot shows behind another may
    still be on it when there are more than two) and over feasible results only;
    infeasible ones are hollow.
    """
    first, second = campaign.objectives[:2]
    Y = np.array([[o.measurement.values[j.name] for j in campaign.objectives] for o in observed])
    feasible = np.array([campaign.feasible(o.measurement.values) for o in observed], dtype=bool)
    on_front = {o.trial.id for o in pareto_front(campaign, observed)}
    front = np.array([o.trial.id in on_front for o in observed], dtype=bool)
    hover = [_outcomes_hover(o, campaign.objectives, campaign.space) for o in observed]
    fig = go.Figure()
    for name, mask, marker in (
        ("measured", feasible & ~front, {"color": "#cbd5e1", "size": 7}),
        ("infeasible", ~feasible, {"color": "#b91c1c", "size": 7, "symbol": "circle-open"}),
        ("Pareto front", front, {"color": PRIMARY, "size": 9}),
    ):
        if mask.any():
            fig.add_scatter(
                x=Y[mask, 0],
                y=Y[mask, 1],
                mode="markers",
                name=name,
                marker=marker,
                text=[h for h, m in zip(hover, mask, strict=True) if m],
                hovertemplate="%{text}<extra></extra>",
            )
    if front.sum() > 1 and len(campaign.objectives) == 2:  # the front as a line, left to right
        order = np.argsort(Y[front, 0])
        fig.add_scatter(
            x=Y[front, 0][order],
            y=Y[front, 1][order],
            mode="lines",
            line={"color": PRIMARY, "dash": "dot", "width": 1.5},
            showlegend=False,
            hoverinfo="skip",
        )
    more = len(campaign.objectives) - 2
    subtitle = f"{int(front.sum())} of {len(Y)} results on the front"
    if more:
        subtitle += f" (over all {more + 2} objectives; the first two shown)"
    layout = _layout(
        "Pareto front",
        subtitle,
        f"{objective_label(first)} ({goal(first)})",
        f"{objective_label(second)} ({goal(second)})",
    )
    fig.update_layout(layout)
    return fig


def _outcomes_hover(
    observation: Observation, objectives: Sequence[Objective], space: SearchSpace
) -> str:
    trial, values = observation.trial, observation.measurement.values
    return "<br>".join(
        [
            f"batch {esc(trial.batch)} · {esc(trial.strategy or 'unknown')}",
            *(f"<b>{esc(j.name)} = {num(values[j.name])}</b>" for j in objectives),
            point_text(space, trial.parameters, 3),
        ]
    )


def _no_top_why(campaign: Campaign) -> str:
    """Why a campaign page has no Top 5% figure."""
    if campaign.constraints:
        return (
            "Needs measurements on a pool with known values, some of them meeting the "
            "outcome constraints."
        )
    return "Needs measurements on a pool with known values."


def _trial_hover(
    trial: Trial, values: dict[str, float] | None, objective: Objective, space: SearchSpace
) -> str:
    lines = [
        f"batch {esc(trial.batch)} · {esc(trial.strategy or 'unknown')} · {esc(trial.status.value)}"
    ]
    if values is not None:
        lines.append(f"<b>{esc(objective.name)} = {num(values[objective.name])}</b>")
    if trial.acquisition_value is not None:
        lines.append(f"acquisition {num(trial.acquisition_value, 3)}")
    lines.append(point_text(space, trial.parameters, 3))
    return "<br>".join(lines)


def parity_figure(surrogate: Surrogate, objective: Objective, gap: str = "") -> go.Figure:
    """Leave-one-out predicted against measured values, with 1σ error bars.

    ``gap`` (:func:`model_gap`) says when the diagnostic GP is not the campaign's model.
    """
    loo = surrogate.loo
    lo = float(min(loo.observed.min(), (loo.mean - loo.std).min()))
    hi = float(max(loo.observed.max(), (loo.mean + loo.std).max()))
    pad = 0.04 * (hi - lo or 1.0)
    fig = go.Figure()
    fig.add_scatter(
        x=[lo - pad, hi + pad],
        y=[lo - pad, hi + pad],
        mode="lines",
        name="y = x",
        line={"color": MUTED, "dash": "dash", "width": 1.5},
        hoverinfo="skip",
    )
    fig.add_scatter(
        x=loo.observed,
        y=loo.mean,
        error_y={
            "type": "data",
            "array": loo.std,
            "color": "rgba(79,70,229,0.35)",
            "thickness": 1.2,
        },
        mode="markers",
        name="LOO mean ± 1σ",
        marker={"color": PRIMARY, "size": 7, "line": {"color": "white", "width": 1}},
        text=[f"trial {esc(t)}" for t in surrogate.trial_ids],
        hovertemplate="%{text}<br>measured %{x:.4g}<br>predicted %{y:.4g}<extra></extra>",
    )
    c = surrogate.calibration
    subtitle = diagnostic_subtitle(
        gap,
        f"refit-free leave-one-out on {loo.observed.size} points · MAE {num(c.mae, 3)} · "
        f"RMSE {num(c.rmse, 3)}",
    )
    label = objective_label(objective)
    layout = _layout(
        "Leave-one-out parity",
        subtitle,
        f"measured {label}",
        f"predicted {label}",
        height=420,
        margin=GP_MARGIN,  # room for the subtitle's two lines
    )
    layout["xaxis"].update(range=[lo - pad, hi + pad], constrain="domain")
    layout["yaxis"].update(range=[lo - pad, hi + pad], scaleanchor="x", scaleratio=1)
    layout["yaxis"]["constrain"] = "domain"
    fig.update_layout(layout)
    return fig


def calibration_figure(surrogate: Surrogate, gap: str = "") -> go.Figure:
    """Observed against nominal central-interval coverage of the LOO predictions.

    ``gap`` (:func:`model_gap`) says when the diagnostic GP is not the campaign's model.
    """
    c = surrogate.calibration
    p = np.concatenate([[0.0], c.levels, [1.0]])
    observed = np.concatenate([[0.0], c.observed, [1.0]])
    fig = go.Figure()
    fig.add_scatter(
        x=p,
        y=p,
        mode="lines",
        name="ideal",
        line={"color": MUTED, "dash": "dash", "width": 1.5},
        hoverinfo="skip",
    )
    fig.add_scatter(
        x=p,
        y=observed,
        mode="lines+markers",
        name="observed",
        line={"color": PRIMARY, "width": 2.5},
        marker={"size": 6},
        fill="tonexty",
        fillcolor="rgba(217,119,6,0.15)",
        hovertemplate="nominal %{x:.2f}<br>observed %{y:.2f}<extra></extra>",
    )
    subtitle = diagnostic_subtitle(
        gap,
        f"miscalibration area {num(c.miscalibration_area, 2)} · 95% coverage "
        f"{num(100 * c.coverage_95, 3)}% · Spearman ρ(|error|, σ) {num(c.spearman, 2)}",
    )
    layout = _layout(
        "Calibration",
        subtitle,
        "nominal central-interval probability",
        "observed fraction inside",
        height=420,
        margin=GP_MARGIN,  # room for the subtitle's two lines
    )
    layout["xaxis"].update(range=[0, 1], constrain="domain", dtick=0.2)
    layout["yaxis"].update(range=[0, 1.02], scaleanchor="x", scaleratio=1, dtick=0.2)
    layout["yaxis"]["constrain"] = "domain"
    fig.update_layout(layout)
    return fig


#: The most points a cumulative count over time is drawn with: a literature of 100,000
#: records would otherwise put 100,000 times in the page (megabytes of JSON).
LINE_POINTS = 2000
#: The bins of the records' value histogram, counted here, not in the browser.
VALUE_BINS = 40


def cumulative_steps(times: list[datetime]) -> tuple[list[datetime], list[int]]:
    """A cumulative count's steps: at every sorted time, or at :data:`LINE_POINTS` of them.

    The thinned steps are spread evenly over the count and end at the last time; each
    drawn point's count is exact.
    """
    if len(times) <= LINE_POINTS:
        return times, list(range(1, len(times) + 1))
    picks = np.unique(np.linspace(0, len(times) - 1, LINE_POINTS).round().astype(int))
    return [times[i] for i in picks], [int(i) + 1 for i in picks]


def literature_timeline_figure(timeline: dict[str, list[Any]]) -> go.Figure:
    """Cumulative papers ingested and distinct records first read, against time."""
    papers = timeline["papers"]
    records = [r[0] for r in timeline["records"]]
    fig = go.Figure()
    for name, times, line in (
        ("papers", papers, {"shape": "hv", "color": "#6b7280"}),
        ("distinct records", records, {"shape": "hv", "color": "#2563eb", "width": 2.5}),
    ):
        x, y = cumulative_steps(times)
        fig.add_scatter(x=x, y=y, name=name, mode="lines", line=line)
    subtitle = f"{len(papers)} papers · {len(records)} records (repeats merged)"
    fig.update_layout(
        **_layout("Literature records over time", subtitle, "ingested (UTC)", "count")
    )
    return fig


def record_values_figure(timeline: dict[str, list[Any]]) -> go.Figure:
    """Histogram of the Tc records' values, split by confidence; bounds are left out.

    "up to 40 K" says nothing of where below 40 the value lies: counted at 40, it would
    pile up at round numbers.
    """
    bounds = UPPER_BOUNDS | LOWER_BOUNDS
    points = [
        (v, c) for _, prop, v, c, q in timeline["records"] if prop == "tc" and q not in bounds
    ]
    # counted into shared bins here: the page carries 40 counts, not every value read
    edges = np.histogram_bin_edges([v for v, _ in points] or [0.0], VALUE_BINS)
    fig = go.Figure()
    for name, keep, color in (
        ("confidence ≥ 0.5", lambda c: c >= 0.5, "#2563eb"),
        ("confidence < 0.5", lambda c: c < 0.5, "#9ca3af"),
    ):
        counts, _ = np.histogram([v for v, c in points if keep(c)], edges)
        fig.add_bar(
            x=(edges[:-1] + edges[1:]) / 2, y=counts, width=np.diff(edges), name=name,
            marker={"color": color},
        )  # fmt: skip
    subtitle = "values read from papers (bounds, such as 'up to 40 K', left out)"
    fig.update_layout(
        **_layout("Tc of the records", subtitle, "Tc (K)", "records"),
        barmode="stack",
    )
    return fig


def _qualified(record: dict[str, Any]) -> str:
    """A record's value as stated: ``<= 40`` for "up to 40 K", ``39`` for a point."""
    qualifier = record.get("qualifier") or "="
    return num(record["value"]) if qualifier == "=" else f"{qualifier} {num(record['value'])}"


def _conditions(conditions: dict[str, Any] | None) -> str:
    """``pressure_gpa=8.9``: what a record was read under; "" for none (ambient, zero field)."""
    return ", ".join(f"{k}={num(v, 6)}" for k, v in sorted((conditions or {}).items()))


def figure_div(fig: go.Figure, dom_id: str) -> str:
    """A ``div`` carrying the figure as JSON, drawn by ``dashboard.js``."""
    return (
        f'<div class="plot" id="{esc(dom_id)}" '
        f'data-figure="{esc(pio.to_json(fig, validate=False))}"></div>'
    )


# -- HTML -----------------------------------------------------------------------------------
LITERATURE_ROWS = 25
#: Campaigns on a page of the index: each row reads its campaign's trials and results
#: (about 0.2 s for a campaign of 1,000 trials on the embedded server).
INDEX_ROWS = 25


def drawn_at() -> datetime:
    """When a page is drawn, in UTC (the page says it: it does not refresh itself)."""
    return datetime.now(UTC)


def page(
    title: str,
    body: str,
    principal: Principal | None = None,
    status: int = 200,
    figures: bool = False,
) -> Response:
    """A complete HTML page with the header, the stylesheet and the security headers.

    The header says when the page was drawn (``as of HH:MM:SS UTC``).

    Args:
        title: Page title (escaped here).
        body: Escaped HTML of the main section.
        principal: The signed-in caller, shown with a sign-out button.
        status: HTTP status.
        figures: Load plotly.js and draw the page's ``div.plot`` figures.

    """
    scripts = (
        f'<script defer src="/dashboard/static/plotly.js?v={esc(plotly_version())}"></script>\n'
        '<script defer src="/dashboard/static/dashboard.js"></script>\n'
        if figures
        else ""
    )
    who = ""
    if principal is not None:
        who = (
            f'<span class="who">{esc(principal.name)}</span>'
            '<form method="post" action="/dashboard/logout" class="inline">'
            '<button type="submit" class="link">Sign out</button></form>'
        )
    now = drawn_at()
    as_of = (
        f'<time class="asof" datetime="{now:%Y-%m-%dT%H:%M:%SZ}" title="{now:%Y-%m-%d}">'
        f"as of {now:%H:%M:%S} UTC</time>"
    )
    document = f"""<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{esc(title)} · matloop</title>
<link rel="icon" href="data:,">
<link rel="stylesheet" href="/dashboard/static/dashboard.css">
</head>
<body>
<header class="top"><a class="brand" href="/dashboard">matloop</a>
<nav><a href="/dashboard">Campaigns</a><a href="/dashboard/literature">Literature</a></nav>
<div class="spacer"></div>{as_of}{who}</header>
<main>
{body}
</main>
<footer>matloop dashboard</footer>
{scripts}</body>
</html>
"""
    headers = {**SECURITY_HEADERS, "Cache-Control": "no-store"}
    return HTMLResponse(document, status_code=status, headers=headers)


def error_page(error: DashboardError) -> Response:
    """The HTML page for a :class:`DashboardError`."""
    there = error.back_to not in ("", "/dashboard")  # the default needs no word
    login = "/dashboard/login" + (f"?next={quote(error.back_to)}" if there else "")
    link = (
        f'<p><a class="button" href="{esc(login)}">Sign in with a token</a></p>'
        if error.login_link
        else '<p><a href="/dashboard">Back to the campaigns</a></p>'
    )
    body = card(f"<h1>{esc(error.title)}</h1><p>{esc(error.message)}</p>{link}", "narrow")
    response = page(error.title, body, status=error.status)
    if error.status == 401:
        response.headers["WWW-Authenticate"] = "Bearer"
    return response


def unavailable_page() -> Response:
    """The 503 page for a database that does not answer: reloading the page is the retry."""
    error = DashboardError(
        503, "Database unavailable", "The database is not answering; try again shortly."
    )
    response = error_page(error)
    response.headers["Retry-After"] = "1"
    return response


def login_body(message: str | None = None, next_page: str = "/dashboard") -> str:
    """The sign-in form (``message`` shown as an error above it; then ``next_page``)."""
    alert = f'<p class="alert">{esc(message)}</p>' if message else ""
    return f"""<section class="card narrow">
<h1>Sign in</h1>
<p class="muted">Paste an API token (<code>matloop token create</code>); any role can read.
Signing in starts a read-only session, kept in an HttpOnly cookie for this site only; the
token itself is not stored.</p>
{alert}
<form method="post" action="/dashboard/login" class="login">
<input type="hidden" name="next" value="{esc(back_to(next_page))}">
<label for="token">API token</label>
<input id="token" name="token" type="password" autocomplete="current-password"
 placeholder="mlp_…" required maxlength="512" autofocus>
<button type="submit" class="button">Sign in</button>
</form>
</section>"""


def kpi(label: str, value: str, hint: str = "") -> str:
    """One key-number tile (``value`` must already be escaped)."""
    small = f'<span class="hint">{esc(hint)}</span>' if hint else ""
    return (
        f'<div class="kpi"><span class="label">{esc(label)}</span>'
        f'<span class="value">{value}</span>{small}</div>'
    )


#: Trial counts a lab manager reads at a glance, each with what it means; ``feasible``
#: only for a campaign with outcome constraints.
COUNTS = (
    ("measured", "results stored"),
    ("feasible", "results meeting every outcome constraint"),
    ("failed", "no result will come"),
    ("abandoned", "given up before a result (each trial says why)"),
    ("running", "leased to an instrument"),
    ("proposed", "waiting for an instrument"),
)


def trial_counts(status: CampaignStatus) -> dict[str, int | None]:
    """The :data:`COUNTS` of one status snapshot; ``feasible`` None without constraints.

    All from the snapshot: a result stored meanwhile cannot make them disagree.
    """
    results = {"measured": status.measurements, "feasible": status.feasible}
    return {
        label: results[label] if label in results else status.trials.get(label, 0)
        for label, _ in COUNTS
    }


def count_tiles(status: CampaignStatus) -> list[str]:
    """A tile per :data:`COUNTS` entry (``feasible`` only with outcome constraints)."""
    hints = dict(COUNTS) | {"measured": f"{counted(status.rounds, 'round')} after the design"}
    if status.expired:
        ran_out = counted(status.expired, "lease")
        hints["running"] += f"; {ran_out} ran out: {_expired_fate(status.campaign)}"
    if status.stalled:  # kept past their lease: the sample exists, its instrument may not
        hints["running"] += (
            f"; {counted(status.stalled, 'stalled trial')} (partly measured or handed on, "
            "its lease run out): an admin token hands it on"
        )
    return [
        kpi(label, str(count), hints[label])
        for label, count in trial_counts(status).items()
        if count is not None
    ]


def _expired_fate(campaign: Campaign) -> str:
    """What becomes of trials whose lease ran out: a closed campaign takes no claims."""
    if campaign.status == CLOSED:
        command = f"matloop campaign close {shlex.quote(campaign.name)}"
        return f"closing again ({command}) abandons them"
    return "the next claim frees them"


def counted(n: int, noun: str) -> str:
    """``1 round``, ``2 rounds``: a count with its noun, singular for one."""
    return f"{n} {noun}" + ("" if n == 1 else "s")


def breakable(strategy: str) -> str:
    """``strategy`` escaped, and free to wrap after each ``+`` (``gp+top+iwarp+...``)."""
    return "+<wbr>".join(esc(part) for part in strategy.split("+"))


def _best_value(status: CampaignStatus) -> float | None:
    if status.best is None:
        return None
    return status.best.measurement.values[status.campaign.objectives[0].name]


def _page_links(number: int, pages: int) -> str:
    """Links to the index's pages before and after page ``number`` (none for one page)."""
    if pages == 1:
        return ""
    links = [
        f'<a href="/dashboard?page={n}">{label}</a>'
        for n, label in ((number - 1, "← earlier"), (number + 1, "later →"))
        if 1 <= n <= pages
    ]
    return f'<p class="muted">page {number} of {pages} · {" · ".join(links)}</p>'


def campaign_row(status: CampaignStatus) -> str:
    """One row of the campaign table."""
    c = status.campaign
    objective = c.objectives[0]
    eff = status.efficiency
    arrow = "↑" if objective.direction.sign > 0 else "↓"
    link = f"/dashboard/campaigns/{quote(c.name, safe='')}"
    counts = "".join(  # feasible: a dash without outcome constraints
        f'<td class="n">{"—" if n is None else n}</td>' for n in trial_counts(status).values()
    )
    # Narrow cells, so that the table fits a laptop's width with every count in view: a
    # pool's file or folder by its name (the whole path on hover and on the campaign's
    # page), the strategy wrapped at its +, the time under the date.
    source = c.source or ""
    prior = ""
    if c.settings.prior_model is not None:  # as `matloop campaign show` names it
        prior = f'<div class="sub">prior={esc(c.settings.prior_model)}</div>'
    created = f"{c.created_at:%Y-%m-%d}<br>{c.created_at:%H:%M}" if c.created_at else ""

    def valued(value: float | None) -> str:  # the best, and the data set's, in its unit
        shown = num(value)
        return esc(f"{shown} {objective.unit}" if objective.unit and shown != "—" else shown)

    others = ""  # best and the factors are of the first objective: the others are named
    if len(c.objectives) > 1:
        rest = ", ".join(
            f"{o.name} {'↑' if o.direction.sign > 0 else '↓'}" for o in c.objectives[1:]
        )
        others = f'<div class="sub">then {esc(rest)}</div>'
    return (
        "<tr>"
        f'<td><a href="{esc(link)}">{esc(c.name)}</a>'
        f'<div class="sub" title="{esc(source)}">{esc(source.rstrip("/").rsplit("/")[-1])}'
        "</div></td>"
        f"<td>{pill(c.status)}</td>"
        f"<td>{breakable(trial_strategy(c))}{prior}</td>"
        f"<td>{esc(objective.name)} {arrow}{others}</td>"
        f"{counts}"
        f'<td class="n">{c.pool_size or "open"}</td>'
        f'<td class="n">{valued(_best_value(status))}</td>'
        f'<td class="n">{valued(eff.pool_best if eff else None)}</td>'
        f'<td class="n">{num(eff.enhancement_factor, 3) if eff else "—"}</td>'
        f'<td class="n">{num(eff.acceleration_factor, 3) if eff else "—"}</td>'
        f'<td class="nowrap">{created}</td>'
        "</tr>"
    )


def trials_table(
    trials: Sequence[Trial], results: dict[str, Measurement], campaign: Campaign
) -> str:
    """The latest trials, newest first, with parameters and every measured outcome.

    Each names its id (a link to its lineage: what to give ``campaign correct`` or
    ``fail``), its sample where the pool names them, and when its status last changed. An
    infeasible result is marked, and so is a corrected one (what it replaced, who, when
    and why in its tooltip); who measured it (or holds it) and why a trial was given up
    are shown.
    """
    outcomes: list[Objective | OutcomeConstraint] = [*campaign.objectives, *campaign.constraints]
    now = utcnow()  # what the store stamps: naive UTC
    latest = list(trials)[::-1][:TRIAL_ROWS]
    labelled = any(t.label is not None for t in latest)
    base = f"/api/v1/campaigns/{quote(campaign.name, safe='')}/trials"
    rows = []
    for trial in latest:
        result = results.get(str(trial.id))
        given = merged_parts(trial.parts).values if trial.parts else None  # so far
        measured = result.values if result is not None else given
        formula = formula_of(campaign.space, trial.parameters)
        params = (
            esc(formula)
            if formula is not None
            else ", ".join(
                f"{esc(k)}={esc(num(v, 3) if isinstance(v, float) else v)}"
                for k, v in trial.parameters.items()
            )
        )
        cells = "".join(
            f'<td class="n">{num(measured.get(o.name)) if measured else "—"}</td>' for o in outcomes
        )
        # the stored status, as the API and CLI give it, then what the row adds to it
        status = pill(trial.status.value)
        if result is not None and not campaign.feasible(result.values):
            status += " " + pill("infeasible")
        elif trial.partly_measured:
            status += " " + pill("partly measured")
        if trial.lease_expires_at is not None and trial.lease_expires_at < now:
            # its lease ran out: the next claim frees it, unless its sample exists
            status += " " + pill("stalled" if trial.sample_made else "expired")
        if result is not None and result.corrections:
            status += " " + _corrected_pill(result)
        link = f"{base}/{quote(str(trial.id), safe='')}/lineage"
        sample = f"<td>{esc(trial.label or '')}</td>" if labelled else ""
        when = trial.updated_at
        rows.append(
            "<tr>"
            f'<td><a class="id" href="{esc(link)}"><code>{esc(str(trial.id))}</code></a></td>'
            f"{sample}"
            f"<td>{esc(trial.batch)}</td>"
            f"<td>{esc(trial.strategy or '')}</td>"
            f"<td>{status}</td>"
            f'<td class="params">{params}</td>'
            f"{cells}"
            f'<td class="n">{num(trial.acquisition_value, 3)}</td>'
            f"<td>{esc(_measured_by(trial, result))}</td>"
            f"<td>{esc(trial.reason or '')}</td>"
            f'<td class="when">{f"{when:%Y-%m-%d %H:%M}" if when else ""}</td>'
            "</tr>"
        )
    named = "".join(
        f'<th class="n">{esc(o.name)}{esc(f" ({o.unit})" if o.unit else "")}</th>' for o in outcomes
    )
    head = (
        f"<tr><th>trial</th>{'<th>sample</th>' if labelled else ''}<th>batch</th>"
        f"<th>strategy</th><th>status</th><th>parameters</th>{named}"
        '<th class="n">acquisition</th><th>measured by</th><th>reason</th>'
        "<th>updated (UTC)</th></tr>"
    )
    shown = min(len(trials), TRIAL_ROWS)
    title = f'<h2>Latest trials <span class="muted">({shown} of {len(trials)})</span></h2>'
    return card(title + table(head, rows), "wide")


def _measured_by(trial: Trial, result: Measurement | None) -> str:
    """Who measured a trial (each part's instrument, in turn), then who holds it now."""
    names = [part.source for part in trial.parts] or ([result.source] if result else [])
    if result is None and trial.claimed_by:
        names.append(trial.claimed_by)
    return ", ".join(dict.fromkeys(names))


def _corrected_pill(result: Measurement) -> str:
    """A ``corrected`` label whose tooltip says what each correction replaced, and why."""
    said = []
    for c in result.corrections:
        old = ", ".join(
            f"{name}={num(value, 6)}" + (f" {c.units[name]}" if c.units.get(name) else "")
            for name, value in c.replaced.items()
        )
        when = f" on {c.at:%Y-%m-%d %H:%M} UTC" if c.at else ""
        said.append(f"{old} replaced by {c.by}{when}: {c.reason}")
    return f'<span class="pill corrected" title="{esc("; ".join(said))}">corrected</span>'


def _closed_note(campaign: Campaign) -> str:
    """What a closed campaign still does, next to its status; empty for an open one."""
    if campaign.status != CLOSED:
        return ""
    return '<span class="muted">no new trials; running ones may still report</span>'


def _constraint_text(constraint: OutcomeConstraint) -> str:
    """``feasible: gap in [1.1, 1.7] eV``: what a feasible result must measure."""
    return f"feasible: {constraint.describe()}"


def card(content: str, kind: str = "") -> str:
    """A white card around already-escaped ``content`` (``kind``: ``wide``, ``narrow``)."""
    return f'<section class="card {kind}">{content}</section>'


def table(head: str, rows: Sequence[str], kind: str = "") -> str:
    """A scrollable table from an escaped header row and escaped body rows.

    ``kind``: a class for the table (``campaigns``: compact, fits a laptop's width).
    """
    attribute = f' class="{esc(kind)}"' if kind else ""
    return (
        f'<div class="scroll"><table{attribute}><thead>{head}</thead>'
        f"<tbody>{''.join(rows)}</tbody></table></div>"
    )


def pill(text: str) -> str:
    """A coloured status label."""
    return f'<span class="pill {esc(text)}">{esc(text)}</span>'


def note_card(title: str, text: str, kind: str = "") -> str:
    """A card that stands in for a figure that cannot be drawn yet."""
    return card(f'<h2>{esc(title)}</h2><p class="muted">{esc(text)}</p>', kind)


# -- static assets ----------------------------------------------------------------------------
@cache
def plotly_version() -> str:
    """Version of the bundled plotly.js."""
    from plotly.offline import get_plotlyjs_version

    return str(get_plotlyjs_version())


@cache
def _plotly_js() -> bytes:
    from plotly.offline import get_plotlyjs

    return str(get_plotlyjs()).encode()


DASHBOARD_JS = """"use strict";
document.addEventListener("DOMContentLoaded", function () {
  var config = {responsive: true, displaylogo: false, displayModeBar: "hover",
                modeBarButtonsToRemove: ["lasso2d", "select2d", "autoScale2d"]};
  document.querySelectorAll("div.plot[data-figure]").forEach(function (el) {
    var figure = JSON.parse(el.getAttribute("data-figure"));
    Plotly.newPlot(el, figure.data, figure.layout, config);
  });
});
"""

DASHBOARD_CSS = """
:root { --ink:#1f2937; --muted:#6b7280; --line:#e5e7eb; --bg:#f5f6fa; --primary:#4f46e5;
  --accent:#d97706; }
* { box-sizing: border-box; }
body { margin:0; background:var(--bg); color:var(--ink);
  font:14px/1.5 system-ui,-apple-system,"Segoe UI",Roboto,Helvetica,Arial,sans-serif; }
a { color:var(--primary); text-decoration:none; } a:hover { text-decoration:underline; }
header.top { display:flex; align-items:center; gap:20px; padding:12px 28px; background:#111827;
  color:#e5e7eb; }
header.top a { color:#e5e7eb; } .brand { font-weight:700; font-size:17px; letter-spacing:.02em; }
.brand::before { content:""; display:inline-block; width:10px; height:10px; border-radius:3px;
  background:var(--primary); margin-right:8px; box-shadow:6px 6px 0 -2px var(--accent); }
.spacer { flex:1; } .who { color:#9ca3af; font-size:13px; }
header.top nav { display:flex; gap:16px; }
form.inline { display:inline; margin:0; }
button.link { background:none; border:0; color:#e5e7eb; cursor:pointer; font:inherit; padding:0; }
button.link:hover { text-decoration:underline; }
main { max-width:1320px; margin:0 auto; padding:24px 28px 8px; }
h1 { font-size:22px; margin:0 0 4px; } h2 { font-size:15px; margin:0 0 12px; }
.muted, .sub { color:var(--muted); } .sub { font-size:12px; }
.crumbs { font-size:13px; color:var(--muted); margin-bottom:6px; }
.heading { display:flex; align-items:center; flex-wrap:wrap; gap:4px 10px; margin:0 0 4px; }
.heading h1 { margin:0; } .asof { color:#9ca3af; font-size:13px; }
.subtitle { color:var(--muted); margin:0 0 18px; }
.card { background:#fff; border:1px solid var(--line); border-radius:12px; padding:16px 18px;
  box-shadow:0 1px 2px rgba(17,24,39,.04); min-width:0; }
.card.narrow { max-width:460px; margin:48px auto; }
.grid { display:grid; grid-template-columns:repeat(2, minmax(0, 1fr)); gap:18px;
  margin-bottom:18px; }
.grid .wide, .wide { grid-column:1 / -1; }
.plot { width:100%; min-height:340px; }
.kpis { display:grid; grid-template-columns:repeat(auto-fit, minmax(150px, 1fr)); gap:12px;
  margin-bottom:18px; }
.kpi { background:#fff; border:1px solid var(--line); border-radius:12px; padding:12px 14px; }
.kpi .label { display:block; font-size:12px; color:var(--muted); text-transform:uppercase;
  letter-spacing:.04em; }
.kpi .value { display:block; font-size:22px; font-weight:650; margin-top:2px;
  font-variant-numeric:tabular-nums; }
.kpi .hint { display:block; font-size:12px; color:var(--muted); }
table { width:100%; border-collapse:collapse; font-variant-numeric:tabular-nums; }
th, td { text-align:left; padding:8px 10px; border-bottom:1px solid var(--line);
  vertical-align:top; }
th { font-size:12px; color:var(--muted); font-weight:600; text-transform:uppercase;
  letter-spacing:.04em; }
td.n, th.n { text-align:right; } tbody tr:hover { background:#fafafe; }
td.params { font-family:ui-monospace,SFMono-Regular,Menlo,monospace; font-size:12px;
  color:#374151; }
.scroll { overflow-x:auto; }
table.campaigns th, table.campaigns td { padding:7px 5px; }
table.campaigns th { font-size:11px; letter-spacing:0; }
table.campaigns .sub { overflow-wrap:anywhere; }
table.campaigns .nowrap { white-space:nowrap; }
.pill { display:inline-block; padding:1px 8px; border-radius:999px; font-size:12px;
  background:#eef2ff; color:#3730a3; }
.pill.completed, .pill.active { background:#ecfdf5; color:#047857; }
.pill.proposed, .pill.running, .pill.expired, .pill.stalled, .pill.corrected {
  background:#fffbeb; color:#b45309; }
.pill.failed, .pill.abandoned, .pill.closed, .pill.infeasible { background:#fef2f2; color:#b91c1c; }
.alert { background:#fef2f2; color:#991b1b; border:1px solid #fecaca; border-radius:8px;
  padding:8px 12px; }
form.login { display:grid; gap:8px; margin-top:12px; }
form.login input { padding:10px 12px; border:1px solid #d1d5db; border-radius:8px; font:inherit; }
form.login input:focus { outline:2px solid #c7d2fe; border-color:var(--primary); }
.button { display:inline-block; background:var(--primary); color:#fff; border:0;
  border-radius:8px; padding:10px 14px; font:inherit; font-weight:600; cursor:pointer; }
.button:hover { background:#4338ca; text-decoration:none; }
code { background:#f3f4f6; padding:1px 5px; border-radius:4px; font-size:12px; }
td.when { white-space:nowrap; color:#6b7280; }
a.id code { font-size:11px; }
footer { max-width:1320px; margin:0 auto; padding:8px 28px 28px; color:var(--muted);
  font-size:12px; }
@media (max-width: 900px) { .grid { grid-template-columns:minmax(0, 1fr); } }
"""

ASSETS: dict[str, tuple[str, Callable[[], bytes]]] = {
    "plotly.js": ("text/javascript; charset=utf-8", _plotly_js),
    "dashboard.js": ("text/javascript; charset=utf-8", DASHBOARD_JS.encode),
    "dashboard.css": ("text/css; charset=utf-8", DASHBOARD_CSS.encode),
}


@cache
def asset(name: str) -> tuple[bytes, str, str]:
    """A static asset's bytes, media type and ETag (loaded once)."""
    media_type, load = ASSETS[name]
    content = load()
    return content, media_type, f'"{hashlib.sha256(content).hexdigest()[:32]}"'


def _same_origin(request: Request) -> bool:
    """Whether a form POST came from a page of this site (``Origin``, else ``Referer``)."""
    origin = request.headers.get("origin") or request.headers.get("referer")
    host = request.headers.get("host")
    if not origin or origin == "null" or not host:
        return False
    return urlsplit(origin).netloc == host


# -- routes -----------------------------------------------------------------------------------
class Dashboard:
    """The dashboard's routes, sharing the API's :class:`~agents.api.Service` (store)."""

    def __init__(self, service: Service) -> None:
        self.service = service
        self.surrogates = SurrogateCache()
        self._pool_bounds: dict[tuple[str, datetime | None, int], np.ndarray] = {}
        self._lock = threading.Lock()

    def register(self, app: FastAPI) -> None:
        """Add the pages to ``app`` (as ``APIRoute``s, so the access audit sees them)."""
        html_route: dict[str, Any] = {"response_class": HTMLResponse, "include_in_schema": False}
        app.add_api_route("/dashboard/login", self.login_form, methods=["GET"], **html_route)
        app.add_api_route("/dashboard/login", self.login, methods=["POST"], **html_route)
        app.add_api_route("/dashboard/logout", self.logout, methods=["POST"], **html_route)
        app.add_api_route("/dashboard", self.index, methods=["GET"], **html_route)
        app.add_api_route(
            "/dashboard/campaigns/{name}", self.campaign_page, methods=["GET"], **html_route
        )
        app.add_api_route(
            "/dashboard/literature", self.literature_page, methods=["GET"], **html_route
        )
        app.add_api_route(
            "/dashboard/static/{name}", self.static, methods=["GET"], include_in_schema=False
        )
        # last, so that it takes only what no page does: a page, not JSON, for a dashboard URL
        app.add_api_route(
            "/dashboard/{rest:path}", self.no_such_page, methods=["GET"], **html_route
        )

        def handle(request: Request, error: Exception) -> Response:
            assert isinstance(error, DashboardError)
            return error_page(error)

        app.add_exception_handler(DashboardError, handle)

    @access("public")
    def no_such_page(self, rest: str) -> Response:
        """A dashboard address that is no page: the 404 page, as for an unknown campaign.

        A page's address with a slash at its end goes to the page (307), as before this
        route took every address.
        """
        if not rest or rest.endswith("/"):
            page_path = "/dashboard" + ("/" + rest.rstrip("/") if rest.rstrip("/") else "")
            return RedirectResponse(quote(page_path), status_code=307)
        raise DashboardError(404, "Not found", f"The dashboard has no page /dashboard/{rest}.")

    @access("public")
    def login_form(self, next: str = "") -> Response:
        """The sign-in form; ``next`` is the dashboard page it returns to."""
        return page("Sign in", login_body(next_page=back_to(next)))

    @access("public")
    async def login(self, request: Request) -> Response:
        """Check a token from the form; on success set the cookie and go to the dashboard."""
        if not _same_origin(request):
            raise DashboardError(403, "Forbidden", "Sign in from the dashboard's own login page.")
        form = parse_qs((await request.body()).decode("utf-8", "replace"), max_num_fields=10)
        secret = (form.get("token") or [""])[0].strip()
        target = back_to((form.get("next") or [""])[0])
        principal = authenticate(secret) if secret and len(secret) <= 512 else None
        if principal is None or not principal.can_read():
            unknown = login_body("That token is unknown or revoked.", target)
            return page("Sign in", unknown, status=401)
        end_session(request.cookies.get(SESSION_COOKIE) or "")  # signing in again: one session
        response = RedirectResponse(target, status_code=303)
        if OLD_TOKEN_COOKIE in request.cookies:  # a token an older matloop kept there
            response.delete_cookie(OLD_TOKEN_COOKIE, path="/")
        response.set_cookie(  # a session of its own, never the token (db.tokens.start_session)
            SESSION_COOKIE,
            start_session(principal, COOKIE_SECONDS),
            max_age=COOKIE_SECONDS,
            path="/",
            secure=request.url.scheme == "https",
            httponly=True,
            samesite="strict",
        )
        return response

    @access("public")
    def logout(self, request: Request) -> Response:
        """End the session, forget the cookie and return to the sign-in form."""
        if not _same_origin(request):
            raise DashboardError(403, "Forbidden", "Sign out from the dashboard itself.")
        end_session(request.cookies.get(SESSION_COOKIE) or "")  # a copied cookie ends too
        response = RedirectResponse("/dashboard/login", status_code=303)
        response.delete_cookie(SESSION_COOKIE, path="/", httponly=True, samesite="strict")
        if OLD_TOKEN_COOKIE in request.cookies:
            response.delete_cookie(OLD_TOKEN_COOKIE, path="/")
        return response

    @access("read")
    def index(self, principal: Viewer, page_number: str = Query("1", alias="page")) -> Response:
        """The campaigns, oldest first, :data:`INDEX_ROWS` to a page: counts, best, EF, AF."""
        store = self.service.store
        names = None if principal.reads(None) else principal.campaigns  # an instrument's own
        total = store.campaign_count(names=names)
        pages = max(math.ceil(total / INDEX_ROWS), 1)
        if not re.fullmatch("[0-9]{1,9}", page_number) or not 1 <= int(page_number) <= pages:
            raise DashboardError(
                404, "Not found", f"There is no page {page_number!r}: pages 1 to {pages}."
            )
        first = (int(page_number) - 1) * INDEX_ROWS
        listed = store.campaigns(first, INDEX_ROWS, names=names)
        statuses = [self.service.agent(c.name).status() for c in listed]
        statuses = [replace(s, campaign=as_seen_by(s.campaign, names is None)) for s in statuses]
        if statuses:
            counts = "".join(
                f'<th class="n" title="{esc(meaning)}">{esc(label)}</th>'
                for label, meaning in COUNTS
            )
            head = (
                "<tr><th>campaign</th><th>status</th><th>strategy</th><th>objective</th>"
                f'{counts}<th class="n">pool</th><th class="n">best</th>'
                '<th class="n">data-set best</th><th class="n">EF</th><th class="n">AF</th>'
                "<th>created (UTC)</th></tr>"
            )
            listing = table(head, [campaign_row(s) for s in statuses], "campaigns")
        else:
            listing = (
                '<p class="muted">No campaigns yet: create one with '
                "<code>matloop campaign create</code> or <code>POST /api/v1/campaigns</code>.</p>"
            )
        measured = counted(sum(s.measurements for s in statuses), "measurement")
        shown = counted(total, "campaign")
        if pages > 1:  # the measurements of the page's campaigns: counting all reads them all
            shown = f"campaigns {first + 1} to {first + len(statuses)} of {total}"
            measured += " in these"
        body = (
            f'<h1>Campaigns</h1><p class="subtitle">{shown} · {measured} · EF and AF against '
            "random sampling on pools with known values</p>"
            f"{card(listing + _page_links(int(page_number), pages))}"
        )
        return page("Campaigns", body, principal)

    @access("read")
    def campaign_page(self, name: str, principal: Viewer) -> Response:
        """One campaign: status, progress, efficiency, proposals and a diagnostic GP's panels."""
        _may_read(principal, name)
        try:
            agent: CampaignAgent = self.service.agent(name)
        except CampaignNotFoundError:
            raise DashboardError(
                404, "Not found", f"There is no campaign named {name!r}."
            ) from None
        store = self.service.store
        campaign = as_seen_by(agent.campaign, principal.reads(None))
        objective = campaign.objectives[0]
        trials = store.trials(name)
        observed = agent.observations(trials)
        pending = [t for t in trials if t.status.is_pending]
        status = agent.status(trials, observed)  # one snapshot: results keep arriving
        values = np.array([o.measurement.values[objective.name] for o in observed], dtype=float)

        surrogate: Surrogate | None = None
        gp_note = ""
        if len(observed) < MIN_GP_POINTS:
            gp_note = (
                f"The GP panels need at least {MIN_GP_POINTS} measurements; "
                f"this campaign has {len(observed)}."
            )
        else:
            used = list(observed)[-MAX_GP_POINTS:]
            try:
                surrogate = fit_surrogate(campaign, used, self._bounds(campaign), self.surrogates)
            except Exception as error:  # a page with the other figures beats a 500
                logger.exception("GP diagnostics failed for campaign %s", name)
                gp_note = f"The GP could not be fitted to these measurements ({error})."
            if surrogate is not None and len(used) < len(observed):
                gp_note = f"The GP uses the latest {len(used)} of {len(observed)} measurements."
        prediction = (
            predict(surrogate, campaign.space.encode([t.parameters for t in pending]))
            if surrogate is not None
            else None
        )
        gap = model_gap(campaign)  # the panels' GP is plain, whatever the campaign uses

        if observed:
            feasible = np.array([campaign.feasible(o.measurement.values) for o in observed])
            figure = best_so_far_figure(status, values, feasible)
            panels = [card(figure_div(figure, "fig-best"))]
        else:
            panels = [note_card("Best so far", "No measurements yet.")]
        if observed and len(campaign.objectives) > 1:
            panels.append(card(figure_div(pareto_figure(campaign, observed), "fig-pareto")))
        top = top_fraction_figure(status)
        panels.append(
            card(figure_div(top, "fig-top"))
            if top is not None
            else note_card("Top 5% found", _no_top_why(campaign))
        )
        if observed or pending:
            proposals = proposals_figure(campaign, observed, pending, prediction, gap)
            panels.append(card(figure_div(proposals, "fig-proposals"), "wide"))
        else:
            nothing = "Nothing measured or pending." if trials else "Nothing proposed yet."
            panels.append(note_card("Proposals and measurements", nothing, "wide"))
        if surrogate is not None:
            parity = parity_figure(surrogate, objective, gap)
            panels.append(card(figure_div(parity, "fig-parity")))
            panels.append(card(figure_div(calibration_figure(surrogate, gap), "fig-calibration")))
        else:
            panels.append(note_card("Leave-one-out parity", gp_note))
            panels.append(note_card("Calibration", gp_note))

        eff = status.efficiency
        best = _best_value(status)
        unit = f" ({objective.unit})" if objective.unit else ""
        tiles = [
            *count_tiles(status),
            kpi(f"best {objective.name}{unit}", num(best), goal(objective)),
        ]
        metrics = status.metrics
        if metrics.hypervolume is not None:
            share = metrics.hypervolume_fraction
            tiles.append(
                kpi(
                    "hypervolume",
                    num(metrics.hypervolume),
                    f"{num(100 * share, 3)}% of the pool's" if share is not None else "measured",
                )
            )
        if eff is not None:
            tiles += [
                kpi("data-set best", num(eff.pool_best), f"pool of {campaign.pool_size}"),
                kpi("EF", num(eff.enhancement_factor, 3), "enhancement vs random"),
                kpi("AF", num(eff.acceleration_factor, 3), "acceleration vs random"),
            ]
        if surrogate is not None:
            loo = f"LOO on {surrogate.loo.observed.size} points"
            tiles.append(
                kpi(
                    "diagnostic GP 95% coverage",
                    f"{num(100 * surrogate.calibration.coverage_95, 3)}%",
                    f"{loo}; plain GP, {gap}" if gap else loo,
                )
            )
        settings = campaign.settings
        recipe = campaign.pool_recipe
        subtitle = (
            f"{esc(strategy_text(campaign))} · {settings.initial} initial, batches of "
            f"{settings.batch_size}, seed {settings.seed}"
            + ("" if settings.budget is None else f", budget {settings.budget}")
            + f" · objective {esc(objective.name)} "
            f"({esc(goal(objective))})"
            + (
                f", the first of {len(campaign.objectives)} objectives"
                if len(campaign.objectives) > 1
                else ""
            )
            + "".join(f" · {esc(_constraint_text(c))}" for c in campaign.constraints)
            + (
                f" · pool of {campaign.pool_size} compositions of {esc(recipe.describe())}"
                if recipe is not None  # how matloop generated it, as `campaign show` says
                else (f" · source {esc(campaign.source)}" if campaign.source else "")
            )
            + (f" · {esc(gp_note)}" if surrogate is not None and gp_note else "")
        )
        measured_by_trial = {str(o.trial.id): o.measurement for o in observed}
        body = (
            '<div class="crumbs"><a href="/dashboard">Campaigns</a> /</div>'
            f'<div class="heading"><h1>{esc(campaign.name)}</h1>{pill(campaign.status)}'
            f"{_closed_note(campaign)}</div>"
            f'<p class="subtitle">{subtitle}</p>'
            f'<div class="kpis">{"".join(tiles)}</div>'
            f'<div class="grid">{"".join(panels)}</div>'
            f'<div class="grid">{trials_table(trials, measured_by_trial, campaign)}</div>'
        )
        return page(campaign.name, body, principal, figures=True)

    @access("read")
    def literature_page(self, principal: Viewer) -> Response:
        """What was read from papers: records over time, Tc values, most-cited records."""
        _may_read(principal, None)
        store = self.service.literature
        counts = store.counts()
        timeline = store.timeline()
        rows, total = store.records({}, limit=LITERATURE_ROWS, offset=0, sort="-n_papers")
        # counted over every record, not the page: the page holds the most cited only
        _, cited = store.records(store.records_filter("n_papers>=2"), limit=1, offset=0)
        tiles = [
            kpi("papers", str(counts["papers"]), f"{counts['passages']} sentences"),
            kpi("mentions", str(counts["mentions"]), "entities found by the tagger"),
            kpi("records", str(total), "material-property values (rejected ones left out)"),
            kpi("in 2+ papers", str(cited), "records read in more than one paper"),
        ]
        if timeline["papers"]:
            panels = [
                card(figure_div(literature_timeline_figure(timeline), "fig-literature-time")),
                card(figure_div(record_values_figure(timeline), "fig-literature-values")),
            ]
        else:
            panels = [
                note_card(
                    "Literature records over time",
                    "No papers yet: ingest some with `matloop literature ingest PATH`.",
                    "wide",
                )
            ]
        head = (
            '<tr><th>material</th><th>property</th><th class="n">value</th><th>unit</th>'
            "<th>conditions</th>"
            '<th class="n">confidence</th><th class="n">papers</th><th>read in</th></tr>'
        )
        keys = [r["sources"][0]["paper"] for r in rows if r["sources"]]
        found, _ = store.papers({"key": {"$in": keys}}, limit=len(keys) or 1)
        titles = {p["key"]: p.get("title") or p["key"] for p in found}
        body_rows = [
            f"<tr><td>{esc(r['material'])}</td><td>{esc(r['property'])}</td>"
            f'<td class="n">{esc(_qualified(r))}</td><td>{esc(r["unit"])}</td>'
            f"<td>{esc(_conditions(r.get('conditions')))}</td>"
            f'<td class="n">{num(r.get("confidence"), 3)}</td><td class="n">{r["n_papers"]}</td>'
            f"<td>{esc(titles.get(r['sources'][0]['paper'], '') if r['sources'] else '')}: "
            f"“{esc(r['sources'][0]['value_text'] if r['sources'] else '')}”</td></tr>"
            for r in rows
        ]
        records = table(head, body_rows) if rows else '<p class="muted">No records yet.</p>'
        body = (
            "<h1>Literature</h1>"
            f'<p class="subtitle">{total} records read from {counts["papers"]} papers · '
            "every record traces to its sentence, paper and tagger version "
            "(<code>GET /api/v1/literature/records</code>)</p>"
            f'<div class="kpis">{"".join(tiles)}</div>'
            f'<div class="grid">{"".join(panels)}</div>'
            f'<div class="grid">{card(records, "wide")}</div>'
        )
        return page("Literature", body, principal, figures=bool(timeline["papers"]))

    def _bounds(self, campaign: Campaign) -> np.ndarray:
        """Encoded bounds as GPPlanner uses them: the pool's range, else the space's.

        A pool never changes after its campaign is created, so its range is kept.
        """
        if not campaign.pool_size:
            return campaign.space.bounds()
        key = (campaign.name, campaign.created_at, campaign.pool_size)
        with self._lock:
            bounds = self._pool_bounds.get(key)
        if bounds is None:
            pool = campaign.space.encode(
                [c.parameters for c in self.service.store.candidates(campaign.name)]
            )
            bounds = np.stack([pool.min(axis=0), pool.max(axis=0)])
            with self._lock:
                self._pool_bounds[key] = bounds
        return bounds

    @access("public")
    def static(self, name: str, request: Request) -> Response:
        """plotly.js, the dashboard's script and stylesheet (cached by ETag)."""
        if name not in ASSETS:
            return Response("not found", status_code=404, media_type="text/plain")
        content, media_type, etag = asset(name)
        headers = {
            "ETag": etag,
            "Cache-Control": "public, max-age=86400",
            "X-Content-Type-Options": "nosniff",
        }
        if request.headers.get("if-none-match") == etag:
            return Response(status_code=304, headers=headers)
        return Response(content, media_type=media_type, headers=headers)


def register_dashboard(app: FastAPI, service: Service) -> None:
    """Serve the dashboard from ``app``, reading through the API's ``service``.

    Args:
        app: The FastAPI app built by :func:`agents.api.create_app`.
        service: The API's routes object (its store and agents are reused).

    """
    Dashboard(service).register(app)
