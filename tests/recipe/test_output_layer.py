"""Finding the output layer: the last layer with parameters that feeds the loss."""
import pytest

from tunewiz.caffe import caffe_pb2
from tunewiz.caffe.prototxt import parse_text
from tunewiz.recipe.layers import RecipeError
from tunewiz.recipe.output_layer import find_output_layer


def test_lenet_output_is_ip2_through_the_loss(net):
    out = find_output_layer(net("lenet_train_val.prototxt"))
    assert (out.name, out.type, out.num_output) == ("ip2", "InnerProduct", 4)
    assert "loss" in out.reason and "last layer with parameters" in out.reason


def test_v1_file_output_found(net):
    out = find_output_layer(net("lenet_v1_train_val.prototxt"))
    assert (out.name, out.type, out.num_output) == ("ip2", "InnerProduct", 4)


def test_walks_back_through_inplace_and_parameter_free_layers():
    text = """
    layer { name: "d" type: "Input" top: "data" top: "label" }
    layer { name: "fc7" type: "InnerProduct" bottom: "data" top: "fc7" inner_product_param { num_output: 8 } }
    layer { name: "fc8" type: "InnerProduct" bottom: "fc7" top: "fc8" inner_product_param { num_output: 3 } }
    layer { name: "relu8" type: "ReLU" bottom: "fc8" top: "fc8" }
    layer { name: "drop8" type: "Dropout" bottom: "fc8" top: "fc8d" }
    layer { name: "aux" type: "InnerProduct" bottom: "fc7" top: "aux" inner_product_param { num_output: 2 } }
    layer { name: "loss" type: "SoftmaxWithLoss" bottom: "fc8d" bottom: "label" top: "loss" }
    """
    out = find_output_layer(parse_text(text, caffe_pb2.NetParameter()))
    assert out.name == "fc8"  # not 'aux', which is later in the file but does not feed the loss
    assert "drop8" in out.reason and "relu8" in out.reason


def test_main_loss_is_the_heaviest_googlenet_style():
    text = """
    layer { name: "d" type: "Input" top: "data" top: "label" }
    layer { name: "cls1" type: "InnerProduct" bottom: "data" top: "cls1" inner_product_param { num_output: 3 } }
    layer { name: "loss1" type: "SoftmaxWithLoss" bottom: "cls1" bottom: "label" top: "l1" loss_weight: 0.3 }
    layer { name: "cls3" type: "InnerProduct" bottom: "data" top: "cls3" inner_product_param { num_output: 3 } }
    layer { name: "loss3" type: "SoftmaxWithLoss" bottom: "cls3" bottom: "label" top: "l3" loss_weight: 1 }
    layer { name: "cls2" type: "InnerProduct" bottom: "data" top: "cls2" inner_product_param { num_output: 3 } }
    layer { name: "loss2" type: "SoftmaxWithLoss" bottom: "cls2" bottom: "label" top: "l2" loss_weight: 0.3 }
    """
    assert find_output_layer(parse_text(text, caffe_pb2.NetParameter())).name == "cls3"


def test_no_loss_falls_back_to_last_layer_with_params_and_says_so(net):
    out = find_output_layer(net("lenet_deploy.prototxt"))
    assert out.name == "ip2"
    assert "no loss layer" in out.reason


def test_loss_fed_by_no_parameter_layer_falls_back():
    text = """
    layer { name: "d" type: "Input" top: "data" top: "label" }
    layer { name: "fc" type: "InnerProduct" bottom: "data" top: "fc" inner_product_param { num_output: 3 } }
    layer { name: "loss" type: "EuclideanLoss" bottom: "data" bottom: "label" top: "loss" }
    """
    out = find_output_layer(parse_text(text, caffe_pb2.NetParameter()))
    assert out.name == "fc" and "no layer with parameters feeds the loss" in out.reason


def test_caller_names_another(net):
    out = find_output_layer(net("lenet_train_val.prototxt"), "ip1")
    assert (out.name, out.num_output) == ("ip1", 100) and "named by you" in out.reason


def test_named_layer_must_exist_and_have_num_output(net):
    with pytest.raises(RecipeError, match="did you mean ip2"):
        find_output_layer(net("lenet_train_val.prototxt"), "ip3")
    with pytest.raises(RecipeError, match="Pooling"):
        find_output_layer(net("lenet_train_val.prototxt"), "pool1")


def test_net_without_parameters_is_an_error():
    text = 'layer { name: "d" type: "Input" top: "data" }\nlayer { name: "p" type: "Softmax" bottom: "data" top: "p" }'
    with pytest.raises(RecipeError, match="no layer with parameters"):
        find_output_layer(parse_text(text, caffe_pb2.NetParameter()))
