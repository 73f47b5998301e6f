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
    ],
    # playwright drives Debian's chromium in tests/test_app_browser.py; it never downloads a browser there
    extras_require={"test": ["pytest", "playwright"]},
)
