"""The napari plugin of spmito: manifest, widgets, reader, writer, sample data.

Holds no science: every widget calls the functions the batch calls.
"""
