"""The built-in image datasets: MNIST and Fashion-MNIST in their original IDX files, printed digits
rendered from the system's fonts (zoo.data.printed), and the sources that read your own files.

Checksums are the official md5s of the downloads (as torchvision lists them); local copies are not
re-hashed, since repackaged copies (Debian re-gzips Fashion-MNIST) hold the same pixels in other bytes.
"""
from __future__ import annotations

from zoo.data.spec import DatasetSpec, ImageDataConfig
from zoo.hookspecs import hookimpl

MNIST = DatasetSpec(
    name="mnist",
    modality="image",
    description="MNIST handwritten digits, 28×28 grey, 60k train / 10k test",
    files={
        "train-images-idx3-ubyte.gz": "md5:f68b3c2dcbeaaa9fbdd348bbdeb94873",
        "train-labels-idx1-ubyte.gz": "md5:d53e105ee54ea40749a09fcbcd1e9432",
        "t10k-images-idx3-ubyte.gz": "md5:9fb629c4189551a2d022fa330f9573f3",
        "t10k-labels-idx1-ubyte.gz": "md5:ec29112dd5afa0611ce80d1b7f02629c",
    },
    loader="zoo.data.idx:load_idx_images",
    config=ImageDataConfig,
    subdirs=["mnist/MNIST/raw", "MNIST/raw", "mnist"],
    urls={
        name: f"https://ossci-datasets.s3.amazonaws.com/mnist/{name}"
        for name in ("train-images-idx3-ubyte.gz", "train-labels-idx1-ubyte.gz", "t10k-images-idx3-ubyte.gz", "t10k-labels-idx1-ubyte.gz")
    },
    license="CC BY-SA 3.0 (Yann LeCun and Corinna Cortes)",
)

FASHION_MNIST = DatasetSpec(
    name="fashion-mnist",
    modality="image",
    description="Fashion-MNIST clothing images, 28×28 grey, 60k train / 10k test",
    files={
        "train-images-idx3-ubyte.gz": "md5:8d4fb7e6c68d591d4c3dfef9ec88bf0d",
        "train-labels-idx1-ubyte.gz": "md5:25c81989df183df01b3e8a0aad5dffbe",
        "t10k-images-idx3-ubyte.gz": "md5:bef4ecab320f06d8554ea6380940ec79",
        "t10k-labels-idx1-ubyte.gz": "md5:bb300cfdad3c16e7a12a480ee83cd310",
    },
    loader="zoo.data.idx:load_idx_images",
    config=ImageDataConfig,
    subdirs=["fashion-mnist", "FashionMNIST/raw", "fashion-mnist/FashionMNIST/raw"],
    urls={
        name: f"http://fashion-mnist.s3-website.eu-central-1.amazonaws.com/{name}"
        for name in ("train-images-idx3-ubyte.gz", "train-labels-idx1-ubyte.gz", "t10k-images-idx3-ubyte.gz", "t10k-labels-idx1-ubyte.gz")
    },
    license="MIT (Zalando Research)",
)


@hookimpl
def register_datasets(register) -> None:
    register(MNIST.name, MNIST)
    register(FASHION_MNIST.name, FASHION_MNIST)
    register("printed-digits", "zoo.data.printed:PRINTED_DIGITS")  # rendered from the system's fonts, cached
    register("moving-mnist", "zoo.data.moving_mnist:MOVING_MNIST")  # made from MNIST's files on the fly
    register("moving-mnist-small", "zoo.data.moving_mnist:MOVING_MNIST_SMALL")
    register("unpaired", "zoo.data.unpaired:UNPAIRED")  # two domains (data.source, data.target) for unpaired translation
    for name, attr in (("image-folder", "own:IMAGE_FOLDER"), ("text-files", "own:TEXT_FILES"), ("audio-folder", "own:AUDIO_FOLDER"),
                       ("paired-folder", "pairs:PAIRED_FOLDER"), ("video-folder", "video_folder:VIDEO_FOLDER")):
        register(name, f"zoo.data.{attr}")  # your own files (`--data PATH`); a string, so listing never imports torch
