"""Step 1: Caffe Datum records, LMDB/LevelDB databases, imageset conversion, mean, transforms."""
