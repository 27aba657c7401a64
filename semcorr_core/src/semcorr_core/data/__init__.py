"""Data: procedural category shapes, real-mesh loaders, RGB-D scene rendering, dataset I/O."""
