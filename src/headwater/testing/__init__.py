"""Test helpers shipped with headwater; `servers` starts private real servers for tests."""
