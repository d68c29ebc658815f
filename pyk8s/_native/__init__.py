"""Compiled extension modules (built from csrc/ by CMake; see CMakeLists.txt)."""
