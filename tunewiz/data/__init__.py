"""Step 2 (Data): Caffe Datum records, LMDB/LevelDB databases, imageset conversion, mean, transforms."""
