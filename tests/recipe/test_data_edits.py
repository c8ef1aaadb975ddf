"""Data layers: sources per phase, ImageData -> Data, mean, crop check, class count, preprocessing warnings."""
import pytest

from tunewiz.caffe import caffe_pb2
from tunewiz.caffe.prototxt import parse_text
from tunewiz.recipe.data_edits import (DataPlan, check_data, classes_from_db, data_layers, point_data_layers,
                                       summarize_db)
from tunewiz.recipe.layers import RecipeError
from tests.recipe.helpers import make_db


def test_sources_per_phase(net, tmp_path):
    tv = net("lenet_train_val.prototxt")
    tr, va = make_db(tmp_path / "tr", [0, 1]), make_db(tmp_path / "va", [0, 1])
    plan = DataPlan()
    point_data_layers(tv, str(tr), str(va), plan, mean_value=[10, 20])
    assert [l.data_param.source for l in tv.layer[:2]] == [str(tr), str(va)]
    assert list(tv.layer[0].transform_param.mean_value) == [10, 20]
    assert len(plan.changes) == 4


def test_v1_data_layer_keeps_transform_in_data_param(net, tmp_path):
    tv = net("lenet_v1_train_val.prototxt")
    plan = DataPlan()
    point_data_layers(tv, "a_lmdb", "b_lmdb", plan, mean_file="m.binaryproto")
    assert tv.layers[0].data_param.source == "a_lmdb" and tv.layers[1].data_param.source == "b_lmdb"
    assert tv.layers[0].data_param.mean_file == "m.binaryproto"  # the V1 place of the mean
    assert not tv.layers[0].HasField("transform_param")


def test_image_data_given_a_database_becomes_data(tmp_path):
    text = """
    layer { name: "d" type: "ImageData" top: "data" top: "label" include { phase: TRAIN }
            transform_param { mirror: true } image_data_param { source: "list.txt" batch_size: 32 } }
    """
    n = parse_text(text, caffe_pb2.NetParameter())
    db = make_db(tmp_path / "db", [0, 1])
    plan = DataPlan()
    point_data_layers(n, str(db), "v", plan)
    assert n.layer[0].type == "Data" and n.layer[0].data_param.batch_size == 32
    assert n.layer[0].transform_param.mirror and n.layer[0].data_param.backend == caffe_pb2.DataParameter.LMDB
    assert not n.layer[0].HasField("image_data_param")


def test_image_data_given_a_list_stays(tmp_path):
    text = 'layer { name: "d" type: "ImageData" top: "data" top: "label" image_data_param { source: "a.txt" } }'
    n = parse_text(text, caffe_pb2.NetParameter())
    plan = DataPlan()
    point_data_layers(n, "train.txt", "val.txt", plan)
    assert n.layer[0].image_data_param.source == "train.txt" and "serves both phases" in plan.warnings[0]


def test_db_summary_and_classes(tmp_path):
    s = summarize_db(str(make_db(tmp_path / "db", [0, 2, 1, 2], shape=(3, 8, 6))))
    assert (s.count, s.channels, s.height, s.width, s.num_classes) == (4, 3, 8, 6, 3)
    assert classes_from_db(s) == 3


def test_one_class_is_refused(tmp_path):
    s = summarize_db(str(make_db(tmp_path / "db", [0, 0, 0])))
    with pytest.raises(RecipeError, match="only one class"):
        classes_from_db(s)


def test_gap_in_labels_is_refused(tmp_path):
    s = summarize_db(str(make_db(tmp_path / "db", [0, 2])))
    with pytest.raises(RecipeError, match=r"labels \[1\] never occur"):
        classes_from_db(s)


def test_crop_larger_than_images(net, tmp_path):
    tv = net("lenet_v1_train_val.prototxt")  # crop_size 17
    s = summarize_db(str(make_db(tmp_path / "db", [0, 1], shape=(1, 16, 16))))
    with pytest.raises(RecipeError, match="crop_size 17 is larger"):
        check_data(tv, s, DataPlan())


def test_channels_and_input_size_against_deploy(net, tmp_path):
    tv, dep = net("lenet_train_val.prototxt"), net("lenet_deploy.prototxt")
    s3 = summarize_db(str(make_db(tmp_path / "c3", [0, 1], shape=(3, 19, 19))))
    with pytest.raises(RecipeError, match="3-channel images but the net takes 1"):
        check_data(tv, s3, DataPlan(), dep)
    s = summarize_db(str(make_db(tmp_path / "big", [0, 1], shape=(1, 28, 28))))
    plan = DataPlan()
    check_data(tv, s, plan, dep)
    assert "takes 19x19 inputs but training sees 28x28" in plan.warnings[0]


def test_preprocessing_warning_for_mean_nets(tmp_path):
    text = """
    layer { name: "d" type: "Data" top: "data" top: "label" include { phase: TRAIN }
            transform_param { mean_value: 104 mean_value: 117 mean_value: 123 } data_param { source: "x" } }
    """
    n = parse_text(text, caffe_pb2.NetParameter())
    s = summarize_db(str(make_db(tmp_path / "db", [0, 1], shape=(3, 4, 4))))
    plan = DataPlan()
    check_data(n, s, plan)
    assert any("BGR" in w and "0-255" in w for w in plan.warnings)
    assert len(data_layers(n)) == 1


def test_class_folders(tmp_path):
    from tunewiz.recipe.data_edits import classes_in_folder

    (tmp_path / "b").mkdir()
    with pytest.raises(RecipeError, match="only 'b'.*only one class"):
        classes_in_folder(str(tmp_path))
    (tmp_path / "a").mkdir()
    assert classes_in_folder(str(tmp_path)) == ["a", "b"]


def test_mean_file_size_must_match_images(tmp_path):
    blob = caffe_pb2.BlobProto(num=1, channels=3, height=32, width=32)
    blob.data.extend([0.0] * (3 * 32 * 32))
    (tmp_path / "mean.binaryproto").write_bytes(blob.SerializeToString())
    text = f"""
    layer {{ name: "d" type: "Data" top: "data" top: "label" include {{ phase: TRAIN }}
            transform_param {{ mean_file: "{tmp_path / 'mean.binaryproto'}" }} data_param {{ source: "x" }} }}
    """
    n = parse_text(text, caffe_pb2.NetParameter())
    s = summarize_db(str(make_db(tmp_path / "db", [0, 1], shape=(3, 24, 24))))
    with pytest.raises(RecipeError, match="is 3x32x32 but the images .* are 3x24x24"):
        check_data(n, s, DataPlan())
    ok = summarize_db(str(make_db(tmp_path / "db32", [0, 1], shape=(3, 32, 32))))
    check_data(n, ok, DataPlan())
