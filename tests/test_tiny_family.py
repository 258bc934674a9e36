from zoo.testing import FamilyContract


class TestTinyFamily(FamilyContract):
    preset = "tiny-mnist"

    def test_train_sample_evaluate(self, tmp_path, tiny_plugin):
        super().test_train_sample_evaluate(tmp_path)
