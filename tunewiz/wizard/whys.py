"""The "why" panels: the questions newcomers ask about this recipe, in plain words.

Each answer is two to five sentences.  Screens pick the keys that fit their step.
"""
from __future__ import annotations

WHY: dict[str, tuple[str, str]] = {
    "finetune": (
        "What is fine-tuning, and when should I use it?",
        "Fine-tuning starts from a network that already learned from a large data set and "
        "teaches it your smaller one. The early layers already know edges, textures and "
        "shapes, so you only need a few hundred images per class instead of millions. Use it "
        "when your images resemble what the network saw before, or when you have too little "
        "data to train from scratch.",
    ),
    "data": (
        "Why convert the images into a database?",
        "Training reads the same images thousands of times; decoding JPEG files from a folder "
        "each time would starve the processor or GPU. Caffe reads LMDB or LevelDB records, "
        "already resized and in its own pixel order. The mean image is subtracted from every "
        "input so the network sees values centred around zero, as it did when it was trained.",
    ),
    "rename": (
        "Why is the last layer renamed?",
        "Weights are copied from the pretrained file by layer name. A renamed layer has no "
        "match, so it starts with fresh weights sized for your number of classes; a layer "
        "that kept its name would get the old weights copied, which fails when the class "
        "count changed. Every layer that read its output (loss, accuracy, softmax) is rewired "
        "to the new name.",
    ),
    "freeze": (
        "What does lr_mult 0 do, and how much should I freeze?",
        "A parameter's learning rate is base_lr times its lr_mult, so lr_mult 0 means the "
        "layer never changes: it is frozen. Freezing the early layers keeps the general "
        "features and trains faster with less data. The more your new data differs from the "
        "old (say, X-rays instead of photos), the more layers you should leave trainable.",
    ),
    "mean": (
        "Whose mean: the pretrained net's or my data's?",
        "The pretrained weights learned from inputs with their own mean subtracted (or none), "
        "so by default the copy keeps that preprocessing: the first layers then see what they "
        "were trained on. Subtract the new data's mean instead when your images differ a lot "
        "from the original ones, e.g. gray or medical images. 'tunewiz finetune' does the same: "
        "--mean-file gives the new mean.",
    ),
    "deploy": (
        "My model came with a deploy file only: what then?",
        "A deploy file describes the net for classifying one image, without data or loss layers; the "
        "wizard writes the train_val from it (Data layers reading your databases, a loss and an accuracy) "
        "and, without a solver, Caffe's usual fine-tuning solver. What a deploy does not record is how the "
        "images were preprocessed when its weights were trained, so you say it: the wrong mean or scale "
        "makes the pretrained features meaningless. The model's readme usually tells; Caffe's ImageNet "
        "models subtract 104/117/123 from BGR pixels in 0-255.",
    ),
    "batch": (
        "Why a smaller batch on a weaker GPU, and what is iter_size?",
        "Each image in a batch needs memory for every layer's output, so a large batch may "
        "not fit a small GPU. With iter_size, Caffe runs several small batches and adds their "
        "gradients before one update, so batch_size times iter_size images count as one "
        "step. The result is the same effective batch, only slower.",
    ),
    "lr": (
        "Why does the learning rate drop?",
        "The pretrained weights are already good, and a large learning rate would wreck them "
        "in the first steps; that is why base_lr is divided by 10 (or up to 100). The new "
        "last layer has lr_mult 10/20, so it still learns fast. During training the policy "
        "lowers the rate further so the weights settle instead of jumping around.",
    ),
    "numerics": (
        "Caffe's order or torch's kernels?",
        "On the CPU, tunewiz can add up each layer's sums in Caffe's own order, so its gradients match a "
        "real Caffe run to the last bit and the losses stay within 1e-6 of Caffe's, in a little less time "
        "than Caffe itself takes; that is the default, and what the tests compare with Caffe. Torch's own "
        "kernels are another 1.7-1.8x faster and differ in those last bits: SGD, Nesterov, AdaDelta and "
        "Adam stay within 1e-6 of Caffe's losses, but AdaGrad and RMSProp drift (9e-2 and 3e-4 in 50 "
        "iterations). Choose them for speed when "
        "exact agreement with Caffe does not matter; on a GPU torch's kernels are used anyway.",
    ),
    "start": (
        "Weights or snapshot?",
        "Weights (a .caffemodel) start a new training from learned values: the iteration "
        "count starts at zero and layers are copied by name. A snapshot (a .solverstate) "
        "resumes a training that stopped, with its iteration, learning-rate step and momentum "
        "history. That is why a snapshot needs the unchanged solver and net: the history "
        "only makes sense for the exact same parameters.",
    ),
    "train": (
        "What am I looking at?",
        "Loss measures how wrong the network is on the training batches; it should fall, "
        "noisily, so the smoothed line is easier to read. Test accuracy is measured on the "
        "validation images the network never trains on; when it stops rising, more training "
        "will not help. Training runs as its own process: you may close this window and "
        "attach again later with 'tunewiz attach RUN_DIR'.",
    ),
    "done": (
        "What now?",
        "The last snapshot's .caffemodel holds your fine-tuned weights; use it with the "
        "deploy prototxt to classify new images. If test accuracy is low, try freezing fewer "
        "layers, training longer or lowering the learning rate divisor. The command lines "
        "below repeat this run without the wizard.",
    ),
}

SCREEN_WHYS: dict[str, tuple[str, ...]] = {
    "welcome": ("finetune",),
    "data": ("data",),
    "net": ("rename", "freeze", "batch", "mean", "deploy"),
    "solver": ("lr", "numerics"),
    "start": ("start",),
    "train": ("train",),
    "done": ("done",),
}


def why_text(screen: str) -> str:
    """The why panel's text for a screen (questions in bold markup, answers plain)."""
    parts = []
    for key in SCREEN_WHYS.get(screen, ()):
        question, answer = WHY[key]
        parts.append(f"[b]{question}[/b]\n{answer}")
    return "\n\n".join(parts)
