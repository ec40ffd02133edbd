"""`require()`: the one way an optional client library is imported (errors.py)."""

from __future__ import annotations

import sys

import pytest

from headwater.errors import MissingExtra, require


def test_require_returns_the_module():
    assert require("json", "api", "x") is sys.modules["json"]


def test_a_missing_library_names_what_needs_it_its_package_and_the_extra(monkeypatch):
    # both entries: an earlier test of the session may have imported the submodule
    monkeypatch.setitem(sys.modules, "grpc_tools", None)
    monkeypatch.setitem(sys.modules, "grpc_tools.protoc", None)
    with pytest.raises(MissingExtra) as err:
        require("grpc_tools.protoc", "api", "gRPC serving", "grpcio-tools")
    assert str(err.value) == (
        "gRPC serving needs the Python package 'grpcio-tools', which is not installed: "
        'pip install "headwater[api]"'
    )
    assert err.value.extra == "api"


def test_the_package_defaults_to_the_top_level_module(monkeypatch):
    monkeypatch.setitem(sys.modules, "paho", None)
    monkeypatch.setitem(sys.modules, "paho.mqtt.client", None)
    with pytest.raises(MissingExtra, match="'paho'"):
        require("paho.mqtt.client", "mqtt", "sink 'm' (kind: mqtt)")
