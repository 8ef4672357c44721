// The periodic task form's crontab help, as django_celery_beat's template does it inline: the
// crontab chosen, in words, under the field (omen_site/templates/omen_site/periodic_task_change_form.html).
'use strict';
{
    const $ = django.jQuery;
    const readableCrontabs = JSON.parse(document.getElementById('readable-crontabs').textContent);
    const help = $('.field-crontab .help');
    const originalHelp = help.html() || '';

    $('.field-crontab_translation').hide();
    $('.field-crontab').on('change', function() {
        const translation = readableCrontabs[$('#id_crontab').val()] || '';
        // As text: a crontab's description never becomes markup.
        help.html(originalHelp).append($('<br>'), document.createTextNode('Translation: ' + translation));
    });
}
