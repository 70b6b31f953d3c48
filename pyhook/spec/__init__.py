"""The spec-test runner: .json and .wast scripts, and the in-process host runtime it runs modules
on."""
