"""Fixtures of the generator tests."""

import pytest

from tests.stylegan.families_fixtures import SG3_FIXTURES, load_fixture_generator


@pytest.fixture(scope="module")
def sg3_fixture_generators(fixtures_dir):
    """{name: generator} of the official StyleGAN3 fixture pickles, loaded by load_generator."""
    return {name: load_fixture_generator(fixtures_dir, name) for name in SG3_FIXTURES}
