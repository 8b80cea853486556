"""Packaging generated from settings.ini, as in nbdev 2 projects (pyproject.toml names the setuptools backend)."""
from configparser import ConfigParser
from pathlib import Path
import setuptools

HERE = Path(__file__).resolve().parent
config = ConfigParser(delimiters=['='])
config.read(HERE/'settings.ini', encoding='utf-8')
cfg = config['DEFAULT']

licenses = {'apache2': ('Apache Software License 2.0', 'OSI Approved :: Apache Software License')}
statuses = ['Pre-Alpha', 'Alpha', 'Beta', 'Production/Stable', 'Mature', 'Inactive']
lic = licenses[cfg['license']]
figures, offline = cfg.get('figures_requirements', '').split(), cfg.get('offline_requirements', '').split()
ray, trl = cfg.get('ray_requirements', '').split(), cfg.get('trl_requirements', '').split()

setuptools.setup(
    name=cfg['lib_name'],
    version=cfg['version'],
    license=lic[0],
    classifiers=[
        'Development Status :: ' + str(int(cfg['status'])) + ' - ' + statuses[int(cfg['status']) - 1],
        'Intended Audience :: ' + cfg['audience'],
        'License :: ' + lic[1],
        'Natural Language :: ' + cfg['language'],
        'Programming Language :: Python :: 3.11',
    ],
    url=cfg['git_url'],
    # ia2/resources/ and its folders hold data, not modules: listed as namespace packages, so setuptools installs them
    # as package data without warning that they are absent from `packages`
    packages=setuptools.find_namespace_packages(include=['ia2', 'ia2.*'], exclude=['*.__pycache__']),
    # the grids, the paper's numbers, the tiny grid's rows and tokenizer, read with importlib.resources (ia2.shipped)
    package_data={'ia2': ['resources/*', 'resources/**/*']},
    include_package_data=True,
    install_requires=cfg.get('requirements', '').split(),
    extras_require={'figures': figures, 'offline': offline, 'ray': ray, 'trl': trl,
                    'dev': cfg.get('dev_requirements', '').split() + figures + offline + ray + trl},
    python_requires='>=' + cfg['min_python'],
    long_description=(HERE/'README.md').read_text(encoding='utf-8'),
    long_description_content_type='text/markdown',
    zip_safe=False,
    entry_points={
        'console_scripts': cfg.get('console_scripts', '').split(),
        'nbdev': [f"{cfg['lib_path']}={cfg['lib_path']}._modidx:d"],
    },
    author=cfg['author'],
    author_email=cfg['author_email'],
    description=cfg['description'],
    keywords=cfg['keywords'],
)
