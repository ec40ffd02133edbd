"""Resolution: a scenario document becomes the typed Scenario a run uses, every problem found at once.

Above the plug-ins (generators, faults, sinks, capture): it validates each section with its
owner's model and cross-checks them, so the layers below never see a raw mapping."""
