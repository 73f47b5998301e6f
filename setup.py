from setuptools import find_packages, setup

setup(
    name="anime_colorize",
    version="0.1.0",
    description="Colorize anime and manga in Lab space with noise-conditioned U-Nets (Keras 3 / TensorFlow)",
    long_description=open("README.md", encoding="utf-8").read(),
    long_description_content_type="text/markdown",
    packages=find_packages(include=["anime_colorize", "anime_colorize.*"]),
    package_data={"anime_colorize": ["app_static/*"]},  # the colouring page (python -m anime_colorize.app)
    python_requires=">=3.10",
    install_requires=[
        "tensorflow>=2.16",
        "keras>=3.3",
        "numpy",
        "scikit-image",
        "opencv-python-headless",
        "matplotlib",
        "tqdm",
        "scipy",  # regions: find_objects, sparse connected components (already a scikit-image dependency)
        "psd-tools>=1.11",  # regions.layers.write_psd: layered .psd (create_pixel_layer since 1.11; tested with 1.26)
    ],
    # playwright drives Debian's chromium in tests/test_app_browser.py; it never downloads a browser there
    extras_require={"test": ["pytest", "playwright"]},
)
