from setuptools import find_packages, setup

setup(
    name="anime_colorize",
    version="0.1.0",
    description="Colorize anime and manga in Lab space with noise-conditioned U-Nets (Keras 3 / TensorFlow)",
    long_description=open("README.md", encoding="utf-8").read(),
    long_description_content_type="text/markdown",
    license="Apache-2.0",
    classifiers=[
        "License :: OSI Approved :: Apache Software License",
        "Programming Language :: Python :: 3",
        "Topic :: Multimedia :: Graphics",
        "Typing :: Typed",
    ],
    packages=find_packages(include=["anime_colorize", "anime_colorize.*"]),
    # app_static: the colouring page (anime-colorize app); py.typed: the package carries type hints
    package_data={"anime_colorize": ["app_static/*", "py.typed", "bundled/*.keras", "bundled/*.md"]},
    python_requires=">=3.10",
    install_requires=[
        "tensorflow>=2.16",
        "keras>=3.3",
        "numpy",
        "pillow",
        "scikit-image",
        "opencv-python-headless",
        "matplotlib",
        "tqdm",
        "scipy",  # regions: find_objects, sparse connected components (already a scikit-image dependency)
        "psd-tools>=1.11",  # regions.layers.write_psd: layered .psd (create_pixel_layer since 1.11; tested with 1.26)
    ],
    extras_require={
        "tensorboard": ["tensorboard"],  # to view the training logs (writing them needs nothing extra)
        # export --format onnx; tf2onnx 1.16 pins protobuf 3.20, which TensorFlow 2.21 refuses (it needs protobuf >= 6.31)
        "onnx": ["tf2onnx>=1.17", "onnx>=1.14", "onnxruntime>=1.16"],
        "pdf": ["pypdfium2>=4"],  # PDF chapters in colorize (PdfiumError.err_code: 4.x and 5.x)
        # playwright drives Debian's chromium in tests/test_app_browser.py; it never downloads a browser there;
        # pypdfium2: tests/test_chapters.py's PDF tests (they skip without it)
        # mypy: tests/test_typing.py type-checks the package
        "test": ["pytest", "pytest-xdist", "playwright", "pypdfium2>=4", "mypy"],
    },
    entry_points={"console_scripts": ["anime-colorize = anime_colorize.commands:main"]},
)
