"""The state-dict keys (name and shape) of the official models whose checkpoints lowbit's name maps
(configs/name_maps/) load, one file per model: "<name> <d0,d1,...>" per line ("" for a scalar), in
state-dict order, as each official training script saves them (`module.` when it trains inside
nn.DataParallel; torchvision's files are plain state dicts). tests/engine/official_name_maps_test.cpp
maps them and loads zeros of these shapes into lowbit's models, strictly.

Run with PyTorch, torchvision and timm (the ReBNN / RBONN files import its registry), giving the
folder that holds the official model files (not part of lowbit):
  <root>/reactnet/birealnet.py      liuzechun/ReActNet resnet/2_step2/birealnet.py
  <root>/bireal/birealnet.py        liuzechun/Bi-Real-net pytorch_implementation/BiReal18_34/birealnet.py
  <root>/rebnn/rebnn.py             SteveTsui/ReBNN 2_step2_rebnn/rebnn.py
  <root>/rbonn/rbonn.py             SteveTsui/RBONN 2_step2_rbonn/rbonn.py
  <root>/adabin/{nets,utils}/       huawei-noah/Efficient-Computing BinaryNetworks/AdaBin/imagenet/{nets,utils}
  python official_keys.py <root>    (writes the .txt files beside this script)
"""
import collections
import collections.abc
import importlib.util
import os
import sys

import torch
import torchvision

HERE = os.path.dirname(os.path.abspath(__file__))


def load(path, name):
    spec = importlib.util.spec_from_file_location(name, path)
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module  # timm's register_model looks its module up
    spec.loader.exec_module(module)
    return module


def write(name, state_dict, prefix):
    with open(os.path.join(HERE, name + ".txt"), "w") as f:
        for key, value in state_dict.items():
            f.write(f"{prefix}{key} {','.join(str(d) for d in value.shape)}\n")


def mmdet_faster_rcnn(depth, classes):
    """mmdetection v2.0's Faster R-CNN + FPN (configs/faster_rcnn/faster_rcnn_r50_fpn_1x_coco.py; IDa-Det's
    teachers, configs/voc_tea_faster_rcnn_r101.py), as its runner saves it under "state_dict". The names
    are spelled from mmdet v2.0's module attributes, since its model classes need its compiled ops:
    the ResNet backbone has torchvision's names without fc (mmdet/models/backbones/resnet.py), the FPN
    holds ConvModules (`.conv`) in lateral_convs / fpn_convs (necks/fpn.py), the RPN head rpn_conv,
    rpn_cls, rpn_reg (dense_heads/rpn_head.py), the box head shared_fcs, fc_cls (classes + 1) and
    fc_reg (4 classes) (roi_heads/bbox_heads/convfc_bbox_head.py)."""
    state = collections.OrderedDict()
    for key, value in getattr(torchvision.models, f"resnet{depth}")().state_dict().items():
        if not key.startswith("fc."):
            state["backbone." + key] = value.shape
    for i, channels in enumerate([64, 128, 256, 512] if depth < 50 else [256, 512, 1024, 2048]):
        state[f"neck.lateral_convs.{i}.conv.weight"] = (256, channels, 1, 1)
        state[f"neck.lateral_convs.{i}.conv.bias"] = (256,)
    for i in range(4):
        state[f"neck.fpn_convs.{i}.conv.weight"] = (256, 256, 3, 3)
        state[f"neck.fpn_convs.{i}.conv.bias"] = (256,)
    for name, shape in (("rpn_conv", (256, 256, 3, 3)), ("rpn_cls", (3, 256, 1, 1)), ("rpn_reg", (12, 256, 1, 1))):
        state[f"rpn_head.{name}.weight"] = shape
        state[f"rpn_head.{name}.bias"] = shape[:1]
    for name, shape in (("fc_cls", (classes + 1, 1024)), ("fc_reg", (4 * classes, 1024)),
                        ("shared_fcs.0", (1024, 256 * 7 * 7)), ("shared_fcs.1", (1024, 1024))):
        state[f"roi_head.bbox_head.{name}.weight"] = shape
        state[f"roi_head.bbox_head.{name}.bias"] = shape[:1]
    return state


def write_shapes(name, shapes):
    with open(os.path.join(HERE, name + ".txt"), "w") as f:
        for key, shape in shapes.items():
            f.write(f"{key} {','.join(str(d) for d in shape)}\n")


def main(root):
    collections.Iterable = collections.abc.Iterable  # ReBNN / RBONN's _ntuple, written for Python < 3.10
    reactnet = load(os.path.join(root, "reactnet/birealnet.py"), "reactnet_birealnet")
    bireal = load(os.path.join(root, "bireal/birealnet.py"), "bireal_birealnet")
    rebnn = load(os.path.join(root, "rebnn/rebnn.py"), "rebnn")
    rbonn = load(os.path.join(root, "rbonn/rbonn.py"), "rbonn")
    sys.path.insert(0, os.path.join(root, "adabin"))  # its nets import utils.binarylib
    adabin18 = load(os.path.join(root, "adabin/nets/resnet18.py"), "adabin_resnet18")
    adabin34 = load(os.path.join(root, "adabin/nets/resnet34.py"), "adabin_resnet34")
    # The training scripts save DataParallel(model).state_dict() under "state_dict".
    write("reactnet_resnet18", reactnet.birealnet18().state_dict(), "module.")
    write("bireal_resnet18", bireal.birealnet18().state_dict(), "module.")
    write("bireal_resnet34", bireal.birealnet34().state_dict(), "module.")
    write("rebnn_resnet18", rebnn.rebnn18().state_dict(), "module.")
    write("rbonn_resnet18", rbonn.rbonn18().state_dict(), "module.")
    write("adabin_resnet18", adabin18.resnet18_1w1a().state_dict(), "module.")
    write("adabin_resnet34", adabin34.resnet34_1w1a().state_dict(), "module.")
    for depth in (18, 34, 50, 101):  # torchvision's released files: plain state dicts
        write(f"torchvision_resnet{depth}", getattr(torchvision.models, f"resnet{depth}")().state_dict(), "")
    write_shapes("mmdet_faster_rcnn_r101_voc", mmdet_faster_rcnn(101, 20))  # IDa-Det's VOC teacher


if __name__ == "__main__":
    main(sys.argv[1])
