"""Beam stages: plain batch functions plus one composite PTransform each. They import only schemas/."""
