"""The documentation says what the code does: the settings table is the settings classes'."""

from service.settings_doc import PAGE, with_table


def test_the_settings_page_lists_every_setting_as_the_classes_define_it():
    page = PAGE.read_text()
    assert page == with_table(page), "run: python -m service.settings_doc"
