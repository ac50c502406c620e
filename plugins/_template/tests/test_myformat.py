"""Template tests. In your copy, replace this docstring's example with real tests:

1. Files written by the format's own library in fixtures (tmp_path), every pixel compared with what
   that library reads, and each feature's bad-input twin.
2. The conformance suite, run on the samples your `stackio_write_samples` hook writes:

    from stackio.testing.conformance import PluginConformance

    class TestMyFormatConformance(PluginConformance):
        plugin = "stackio_myformat"
        heavy_modules = ("myformatlib",)  # must not be imported by discovery or detection

This file holds no test itself: the template is not installed, so nothing here could run.
"""
