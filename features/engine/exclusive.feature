# language: zh-CN
功能: 互斥组(exclusive):一件事符合同组多条规则时只取最高的一条

  背景:
    假如 村里有以下农户:
      | 户号 | 网格 | 颜色 |
      | H1   | G1   | red  |
    并且 村里有以下村民:
      | 编号 | 户号 | 党员 |
      | M1   | H1   | 是   |
    并且 规则文件如下:
      """
      point_types:
        - {key: work, name: 零基积分, holder: person, step: 0.5, period: year}
      event_types:
        - key: resolved
          name: 问题办结
          subject: person
          household: true
          fields:
            - {name: days, type: int, required: true, label: 办结天数}
      rules:
        - {id: X1, name: 问题办结, point_type: work, event: resolved, points: {fixed: 3}, exclusive: resolved}
        - {id: X2, name: 问题三日内办结, point_type: work, event: resolved, when: days <= 3, points: {fixed: 5}, exclusive: resolved}
        - {id: X3, name: 问题当日办结, point_type: work, event: resolved, when: days == 0, points: {fixed: 4}, exclusive: resolved}
        - {id: X9, name: 办结台账, point_type: work, event: resolved, points: {fixed: 0.5}}
      """

  场景: 三日内办结同时符合三条规则,只计最高的 5 分;组外规则照常
    当 录入以下事件:
      | 编号 | 类型     | 时间             | 村民 | 农户 | 字段   |
      | r1   | resolved | 2026-03-01 09:00 | M1   | H1   | days=0 |
    那么 事件 r1 按规则 X2 记 5 分,说明为:
      """
      基础分 +5
      同组 “resolved” 中取最高的一项
      """
    并且 事件 r1 没有按规则 X1 记分
    并且 事件 r1 没有按规则 X3 记分
    并且 事件 r1 按规则 X9 记 0.5 分
    并且 M1 的 work 余额为 5.5

  场景: 只符合一条时就计那一条
    当 录入以下事件:
      | 编号 | 类型     | 时间             | 村民 | 农户 | 字段   |
      | r2   | resolved | 2026-03-01 09:00 | M1   | H1   | days=7 |
    那么 事件 r2 按规则 X1 记 3 分,说明为:
      """
      基础分 +3
      """
    并且 M1 的 work 余额为 3.5
