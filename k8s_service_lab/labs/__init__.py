"""The lab runtime: guided labs with steps, a prediction graded by the tracer, and checks.

A lab lives in ``labs/NN-topic/`` (:mod:`.loader`); its ``lab.yaml`` (:mod:`.spec`) lists
steps and a multiple-choice "predict" question; its ``checks.py`` holds plain functions taking
a :class:`Context`. :func:`run_lab` plays the reference solution on a driver — ``sim`` (the
tracer), ``netns`` (real packets in the kernel lab) or ``kind`` (later) — and reports every
check::

    >>> lab = find_lab("01")
    >>> run = run_lab(lab, "sim")
    >>> run.ok, run.counts()["FAIL"]
    (True, 0)
"""

from __future__ import annotations

from k8s_service_lab.labs.context import CheckSkipped, Context, SliceEndpoint
from k8s_service_lab.labs.drivers import DRIVERS, Driver, DriverUnavailable, SimDriver, open_driver
from k8s_service_lab.labs.loader import LABS_ROOT, Lab, find_lab, find_labs, load_lab
from k8s_service_lab.labs.observe import DNSResult, Traffic, simulate
from k8s_service_lab.labs.predict import PredictResult, grade
from k8s_service_lab.labs.runner import CheckResult, LabRun, check_lab, run_check, run_lab
from k8s_service_lab.labs.spec import LabError, LabSpec, parse_spec

__all__ = [
    "DRIVERS",
    "LABS_ROOT",
    "CheckResult",
    "CheckSkipped",
    "Context",
    "DNSResult",
    "Driver",
    "DriverUnavailable",
    "Lab",
    "LabError",
    "LabRun",
    "LabSpec",
    "PredictResult",
    "SimDriver",
    "SliceEndpoint",
    "Traffic",
    "check_lab",
    "find_lab",
    "find_labs",
    "grade",
    "load_lab",
    "open_driver",
    "parse_spec",
    "run_check",
    "run_lab",
    "simulate",
]
